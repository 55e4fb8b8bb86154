"""A codec over a dataset with metrics, no channel: the one loop behind ``semlink rd``,
``semlink codec``, the seed systems' RD figures and the zoo's test figures.

>>> from semlink.evaluate import evaluate
>>> rows = evaluate("jpeg2000", "photos", [{"bpp": 0.3}], metrics=("psnr", "ms_ssim"))
>>> rows = evaluate("seb", "mixed", [{"quality": q} for q in (1, 3)])   # a set codec codes sets

Rows carry the column names of a sweep row (:mod:`semlink.results.schema`, table "eval"):
``psnr`` [dB], ``ms_ssim``, each perceptual distance named after its metric (``lpips``,
``lpips_vgg``, ``st_lpips``, ``dists``) with ``perceptual_metric`` (the first one asked for); ``bits`` (every transmitted bit; for a set codec the
image's own parts plus an equal share of the set's shared parts, as in a sweep), ``bpp``,
``bcr``, ``bits_by_part``; ``decoded_ok`` and ``reason``; ``encode_s``/``decode_s`` per item. A
video's PSNR and MS-SSIM are the means over its frames (as in a sweep). Quality metrics that
cannot be computed (MS-SSIM of an image under 33 px) are ``nan``.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from semlink.errors import ConfigError

Rate = dict[str, Any]
METRICS = ("psnr", "ms_ssim", "perceptual")


def evaluate(
    codec,
    dataset,
    rates: Sequence[Rate | tuple[str, Any]] | Rate | None = None,
    metrics: Sequence[str] = ("psnr", "ms_ssim"),
    *,
    perceptual=None,
    codec_options: dict[str, Any] | None = None,
    size: int | tuple[int, int] | None = None,
    crop: int | tuple[int, int] | None = None,
    max_items: int | None = None,
    dataset_options: dict[str, Any] | None = None,
    set_size: int | None = None,
    decode: bool = True,
    require_decoded: bool = False,
    progress: bool = False,
    on_row: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Encode and decode every item of ``dataset`` with ``codec`` at every rate point; score it.

    Args:
        codec: a codec or its registry name (built with ``codec_options``).
        dataset: a dataset name or ``"folder:DIR"`` (built with ``size``, ``crop``, ``max_items``,
            ``dataset_options``), a :class:`~semlink.data.Dataset`, or ``(name, array)`` pairs.
        rates: rate points, each a dict of ``encode`` keyword arguments (``{"bpp": 0.3}``) or a
            ``(key, value)`` pair; one dict alone; None: the codec's default rate.
        metrics: any of "psnr", "ms_ssim", "perceptual".
        perceptual: the perceptual metric(s): a name ("auto", "lpips", "lpips_vgg",
            "st_lpips", "dists"), a comma-separated list of names, a built metric, or a list of
            those; each adds its column; default "auto" when "perceptual" is in ``metrics``.
        set_size: a set codec (``codes_sets``) codes consecutive sets of this many items
            (``encode_set``); None: the whole dataset is one set. Other codecs code item by item.
        decode: False: encode only (rate columns; no quality metrics, ``decoded_ok`` None).
        require_decoded: raise RuntimeError when an item does not decode (zoo test figures).
        progress: show a progress bar.
        on_row: called with each row as soon as it is made.

    Returns:
        One row (dict) per item and rate point, rate points in the given order, items in
        dataset order.

    Raises:
        ConfigError: unknown metric, empty rate list, or a codec that codes another kind of
            item than the dataset holds.
    """
    from semlink.codecs import get_codec

    codec = get_codec(codec, **(codec_options or {})) if isinstance(codec, str) else codec
    label, items, kind = _items(dataset, size, crop, max_items, dataset_options)
    if kind is not None and kind != codec.kind:
        raise ConfigError(f"codec {codec.name} codes {codec.kind}s but dataset {label} holds {kind}s")
    points = _rates(rates)
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise ConfigError(f"unknown metric(s) {', '.join(bad)}", allowed=METRICS)
    pm = perceptual_metrics(perceptual) if "perceptual" in metrics else []
    if codec.codes_sets:
        n = set_size or len(items)
        units = [(f"set{i // n:03d}", items[i : i + n]) for i in range(0, len(items), n)]
    else:
        units = [("", [it]) for it in items]
    from tqdm import tqdm

    bar = tqdm(total=len(points) * len(items), disable=not progress, desc=f"{codec.name} on {label}",
               dynamic_ncols=True)
    rows: list[dict] = []
    try:
        for rate in points:
            for set_name, unit in units:
                for row in _code(codec, unit, rate, set_name, tuple(metrics) if decode else (), pm, label, decode):
                    if require_decoded and not row["decoded_ok"]:
                        raise RuntimeError(f"{codec.name} {row['rate']}: {row['item']} did not decode: {row['reason']}")
                    rows.append(row)
                    if on_row is not None:
                        on_row(row)
                    bar.update(1)
    finally:
        bar.close()
    return rows


def _items(dataset, size, crop, max_items, dataset_options):
    """(label, [(name, array, group)], kind or None)."""
    from semlink.data import Dataset, get_dataset, parse_dataset_arg

    if isinstance(dataset, str):
        name, opts = parse_dataset_arg(dataset)
        opts.update(dataset_options or {})
        ds = get_dataset(name, size=size, crop=crop, max_items=max_items, **opts)
        return dataset, [(it.name, it.data, it.group or "") for it in ds], ds.kind
    if isinstance(dataset, Dataset):
        its = list(dataset)[:max_items] if max_items else list(dataset)
        return dataset.name, [(it.name, it.data, it.group or "") for it in its], dataset.kind
    out = []
    for it in dataset:
        if hasattr(it, "data"):
            out.append((it.name, it.data, getattr(it, "group", None) or ""))
        else:
            name, x = it
            out.append((str(name), np.asarray(x), ""))
    return "items", out[:max_items] if max_items else out, None


def _rates(rates) -> list[Rate]:
    if rates is None:
        return [{}]
    if isinstance(rates, dict):
        return [dict(rates)]
    out = []
    for r in rates:
        if isinstance(r, dict):
            out.append(dict(r))
        elif isinstance(r, (tuple, list)) and len(r) == 2:
            out.append({str(r[0]): r[1]})
        else:
            raise ConfigError(f"a rate point is a dict of encode arguments or a (key, value) pair, got {r!r}")
    if not out:
        raise ConfigError("empty list of rate points")
    return out


def rate_label(rate: Rate) -> str:
    """``{"bpp": 0.3}`` -> "bpp=0.3" (the sweep's ``rate`` column); {} -> "default"."""
    if not rate:
        return "default"
    return ",".join(f"{k}={v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else f"{k}={v}"
                    for k, v in rate.items())


def _code(codec, unit, rate: Rate, set_name: str, metrics: tuple[str, ...], pm, label: str,
          decode: bool = True) -> Iterable[dict]:
    """Rows of one unit: one item, or one set of a set codec."""
    arrays = [x for _, x, _ in unit]
    t0 = time.perf_counter()
    if codec.codes_sets:
        coded = codec.encode_set(arrays, **rate)
        per_item, shared, set_info = list(coded.items), dict(coded.shared), dict(coded.info)
    else:
        coded = codec.encode(arrays[0], **rate)
        per_item, shared, set_info = [coded], {}, {}
    t1 = time.perf_counter()
    if not decode:
        recs = [None] * len(per_item)
    else:
        recs = list(codec.decode_set(coded)) if codec.codes_sets else [codec.decode(coded)]
    t2 = time.perf_counter()
    n = len(unit)
    shared_bits = 8 * sum(len(b) for b in shared.values()) / n
    param, value = next(iter(rate.items())) if len(rate) == 1 else ("", math.nan)
    for (name, x, group), enc, rec in zip(unit, per_item, recs):
        frames = x.shape[0] if x.ndim == 4 else 1
        h, w = x.shape[-3], x.shape[-2]
        own = int(enc.num_bits)
        bits = own + shared_bits if codec.codes_sets else own
        row = {
            "dataset": label, "item": name, "set": set_name, "group": group, "height": h, "width": w, "frames": frames,
            "codec": codec.name, "tool": enc.info.get("tool", set_info.get("tool", "")), "rate": rate_label(rate),
            "param": param, "value": value, "quality": enc.info.get("quality", set_info.get("quality", "")),
            "bits": bits, "shared_bits": shared_bits, "own_bits": own,
            "bits_by_part": {**{k: 8 * len(v) / n for k, v in shared.items()}, **enc.bits_per_part()},
            "bpp": bits / (h * w * frames), "bcr": bits / (3 * h * w * 8 * frames),
            **(_quality(x, rec.data, metrics, pm) if rec is not None else {}),
            "decoded_ok": bool(rec.decoded_ok) if rec is not None else None,
            "reason": rec.reason if rec is not None else "", "set_size": n,
            "encode_info": {**set_info, **enc.info},
            "encode_s": (t1 - t0) / n, "decode_s": (t2 - t1) / n,
        }
        yield row


def _quality(x: np.ndarray, y: np.ndarray, metrics: tuple[str, ...], pm) -> dict[str, Any]:
    """The sweep's metric definitions (:func:`semlink.simulator.metrics.quality_metrics`), each
    metric alone so that one that cannot be computed (a tiny image's MS-SSIM) is nan."""
    from semlink.simulator.metrics import build_metric

    out: dict[str, Any] = {}
    for m in metrics:
        for metric in (pm if m == "perceptual" else [build_metric(m)]):  # learned metrics come in built (pm)
            try:
                out[metric.name] = metric(x, y)
            except ValueError:
                out[metric.name] = math.nan
    if "perceptual" in metrics:
        out["perceptual_metric"] = pm[0].name if pm else ""
    return out


def perceptual_metrics(spec) -> list:
    """Built perceptual metrics from ``evaluate``'s ``perceptual`` argument (None: ["auto"]),
    duplicates dropped, in the order given."""
    from semlink.simulator.metrics import perceptual_metric

    items = [spec] if spec is None or not isinstance(spec, (list, tuple)) else list(spec)
    out, seen = [], set()
    for it in items:
        names = [n.strip() for n in (it or "auto").split(",") if n.strip()] if it is None or isinstance(it, str) else [it]
        for n in names:
            m = perceptual_metric(n) if isinstance(n, str) else n
            if m.name not in seen:
                seen.add(m.name)
                out.append(m)
    return out
