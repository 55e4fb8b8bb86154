"""Rate-distortion points: every item of a dataset coded at every rate point of every codec.

One row per (item, codec, rate point): the bits of every transmitted part (headers and side
information included) over H x W pixels [bpp], PSNR [dB] (RGB, peak 255) and MS-SSIM of the
decoded image. Rate points are ``(param, value)`` pairs handed to ``codec.encode(image,
**{param: value})``: ``("bpp", 0.3)`` (the codec's own rate control), ``("quality", 4)``
(a shipped rate point of a learned codec, or a classical codec's native quality scale).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

#: Default bpp targets for codecs with rate control (span of the seed papers' comparisons).
RATE_GRID_BPP = (0.08, 0.12, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 1.25)


def _points_of(codec, spec: Any) -> list[tuple[str, Any]]:
    """Rate points of ``codec`` from a spec: "all" (every point the codec lists: a learned
    codec's ``qualities()`` (its model zoo), a classical codec's native ``rate_points()``,
    coded with ``quality=``), "bpp" (:data:`RATE_GRID_BPP`), or a list of (param, value) pairs."""
    if spec == "all":
        qs = list(codec.qualities()) if hasattr(codec, "qualities") else list(codec.rate_points())
        if not qs:
            raise ValueError(f"{codec.name}: no rate points to sweep (none shipped); give bpp targets")
        return [("quality", q) for q in qs]
    if spec == "bpp":
        return [("bpp", b) for b in RATE_GRID_BPP]
    pts = [(str(k), v) for k, v in spec]
    if not pts:
        raise ValueError(f"{codec.name}: empty list of rate points")
    return pts


def rd_points(
    dataset: str,
    codecs: dict[str, Any],
    *,
    size: int | None = None,
    max_items: int | None = None,
    progress: bool = True,
    dataset_options: dict[str, Any] | None = None,
    perceptual: str | None = None,
) -> list[dict]:
    """Code every item of ``dataset`` with every codec at each of its rate points.

    Args:
        dataset: an image dataset name (see ``semlink data list``) or ``"folder:DIR"`` (parsed
            with :func:`semlink.data.parse_dataset_arg`).
        codecs: codec name -> rate points ("all", "bpp" or a list of (param, value) pairs).
        size, max_items: as in :func:`semlink.data.get_dataset`.
        dataset_options: further options of the dataset's builder (e.g. ``{"path": DIR}`` for
            ``folder``), merged over those parsed from ``dataset``.
        perceptual: also score a learned perceptual distance (lower = better): "auto" (LPIPS
            where its weights are installed, else ST-LPIPS), "lpips" or "st_lpips"; None: not.
            Adds the columns ``perceptual`` and ``perceptual_metric`` (which one it was).
    Returns:
        rows (dicts): dataset, item, height, width, codec, tool, param, value, quality (the
        codec's rate-point id where it reports one), bits, bpp, psnr_db, ms_ssim, [perceptual,
        perceptual_metric,] decoded_ok, encode_s, decode_s.
    """
    from tqdm import tqdm

    from semlink.codecs import get_codec
    from semlink.data import get_dataset, parse_dataset_arg
    from semlink.simulator import metrics

    name, options = parse_dataset_arg(dataset)
    options.update(dataset_options or {})
    ds = get_dataset(name, size=size, max_items=max_items, **options)
    if ds.kind != "image":
        raise ValueError(f"dataset {dataset!r} is a {ds.kind} dataset; rate-distortion curves need images")
    pm = metrics.perceptual_metric(perceptual) if perceptual else None
    plan = []
    for name, spec in codecs.items():
        codec = get_codec(name)
        for param, value in _points_of(codec, spec):
            plan.append((name, codec, param, value))
    rows: list[dict] = []
    bar = tqdm(total=len(plan) * len(ds.items), disable=not progress, desc=f"rd {dataset}", dynamic_ncols=True)
    for item in ds.items:
        x = item.data
        h, w = x.shape[:2]
        for name, codec, param, value in plan:
            t0 = time.perf_counter()
            enc = codec.encode(x, **{param: value})
            t1 = time.perf_counter()
            rec = codec.decode(enc)
            t2 = time.perf_counter()
            row = {
                "dataset": dataset, "item": item.name, "height": h, "width": w, "codec": name,
                "tool": enc.info.get("tool", ""), "param": param, "value": value,
                "quality": enc.info.get("quality", ""), "bits": int(enc.num_bits),
                "bpp": enc.num_bits / (h * w), "psnr_db": metrics.psnr(x, rec.image),
                "ms_ssim": metrics.ms_ssim(x, rec.image),
            }
            if pm is not None:
                row.update(perceptual=pm(x, rec.image), perceptual_metric=pm.name)
            row.update(decoded_ok=bool(rec.decoded_ok), encode_s=t1 - t0, decode_s=t2 - t1)
            rows.append(row)
            bar.update(1)
    bar.close()
    return rows


def codec_points(rows: list[dict], codec: str) -> list[tuple[str, Any]]:
    """The distinct (param, value) rate points of ``codec`` in ``rows``, in first-seen order."""
    seen: dict[tuple[str, Any], None] = {}
    for r in rows:
        if r["codec"] == codec:
            seen.setdefault((r["param"], r["value"]), None)
    return list(seen)


def as_array(rows: list[dict], codec: str, field: str) -> np.ndarray:
    """[items, rate points] array of ``field`` for ``codec`` (items in first-seen order)."""
    items = list(dict.fromkeys(r["item"] for r in rows))
    pts = codec_points(rows, codec)
    out = np.full((len(items), len(pts)), np.nan)
    for r in rows:
        if r["codec"] == codec:
            out[items.index(r["item"]), pts.index((r["param"], r["value"]))] = r[field]
    return out
