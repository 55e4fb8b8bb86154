"""Rate-distortion points: every item of a dataset coded at every rate point of every codec.

One row per (item, codec, rate point): the bits of every transmitted part (headers and side
information included) over H x W pixels [bpp], PSNR [dB] (RGB, peak 255) and MS-SSIM of the
decoded image. Rate points are ``(param, value)`` pairs handed to ``codec.encode(image,
**{param: value})``: ``("bpp", 0.3)`` (the codec's own rate control), ``("quality", 4)``
(a shipped rate point of a learned codec, or a classical codec's native quality scale).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from semlink.errors import ConfigError
from semlink.results.schema import PERCEPTUAL

#: Default bpp targets for codecs with rate control (span of the seed papers' comparisons).
RATE_GRID_BPP = (0.08, 0.12, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 1.25, 1.6)


def _points_of(codec, spec: Any) -> list[tuple[str, Any]]:
    """Rate points of ``codec`` from a spec: "all" (every point the codec lists: a learned
    codec's ``qualities()`` (its model zoo), a classical codec's native ``rate_points()``,
    coded with ``quality=``), "bpp" (:data:`RATE_GRID_BPP`), or a list of (param, value) pairs."""
    if spec == "all":
        qs = list(codec.qualities()) if hasattr(codec, "qualities") else list(codec.rate_points())
        if not qs:
            raise ConfigError(f"{codec.name}: no rate points to sweep (none shipped); give bpp targets")
        return [("quality", q) for q in qs]
    if spec == "bpp":
        return [("bpp", b) for b in RATE_GRID_BPP]
    pts = [(str(k), v) for k, v in spec]
    if not pts:
        raise ConfigError(f"{codec.name}: empty list of rate points")
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
    set_size: int | None = None,
) -> list[dict]:
    """Code every item of ``dataset`` with every codec at each of its rate points
    (:func:`semlink.evaluate.evaluate`; a set codec codes the dataset as sets with
    ``encode_set``: one set of every item, or sets of ``set_size``).

    Args:
        dataset: an image dataset name (see ``semlink data list``) or ``"folder:DIR"`` (parsed
            with :func:`semlink.data.parse_dataset_arg`).
        codecs: codec name -> rate points ("all", "bpp" or a list of (param, value) pairs).
        size, max_items: as in :func:`semlink.data.get_dataset`.
        dataset_options: further options of the dataset's builder (e.g. ``{"path": DIR}`` for
            ``folder``), merged over those parsed from ``dataset``.
        perceptual: also score learned perceptual distances (lower = better): a name or a
            comma-separated list of "lpips", "lpips_vgg", "st_lpips", "dists" ("auto" =
            ST-LPIPS); None: not. Adds a column per metric (named after it) and the columns
            ``perceptual`` / ``perceptual_metric``: the first metric's distance and name.
        set_size: images per set for set codecs (None: the whole dataset is one set).
    Returns:
        rows (dicts), items in dataset order, then codecs and rate points in the given order:
        dataset, item, height, width, codec, tool, param, value, quality (the codec's rate-point
        id where it reports one), bits, bpp, psnr_db, ms_ssim, [perceptual, perceptual_metric,
        one column per perceptual metric,]
        decoded_ok, encode_s, decode_s; set codecs add set and shared_bits (bits include the
        image's share of the set's shared bits).
    """
    from semlink.codecs import get_codec
    from semlink.data import get_dataset, parse_dataset_arg
    from semlink.evaluate import evaluate

    name, options = parse_dataset_arg(dataset)
    options.update(dataset_options or {})
    ds = get_dataset(name, size=size, max_items=max_items, **options)
    if ds.kind != "image":
        raise ConfigError(f"dataset {dataset!r} is a {ds.kind} dataset; rate-distortion curves need images")
    plan = []
    for cname, spec in codecs.items():
        codec = get_codec(cname)
        plan.append((cname, codec, _points_of(codec, spec)))
    metrics = ("psnr", "ms_ssim", "perceptual") if perceptual else ("psnr", "ms_ssim")
    order = {it.name: i for i, it in enumerate(ds)}
    rows: list[tuple[tuple[int, int], dict]] = []
    k = 0
    for cname, codec, points in plan:
        got = evaluate(codec, ds, points, metrics, perceptual=perceptual, set_size=set_size, progress=progress)
        per_point = len(got) // len(points)
        for j, r in enumerate(got):
            rows.append(((order[r["item"]], k + j // per_point), _rd_row(dataset, cname, r, codec.codes_sets)))
        k += len(points)
    rows.sort(key=lambda t: t[0])
    return [r for _, r in rows]


def _rd_row(dataset: str, name: str, r: dict, is_set: bool) -> dict:
    """An :func:`~semlink.evaluate.evaluate` row in ``rd.csv``'s columns."""
    row = {"dataset": dataset, "item": r["item"], "height": r["height"], "width": r["width"], "codec": name,
           "tool": r["tool"], "param": r["param"], "value": r["value"], "quality": r["quality"],
           "bits": r["bits"] if is_set else int(r["bits"]), "bpp": r["bpp"], "psnr_db": r["psnr"],
           "ms_ssim": r["ms_ssim"]}
    if r.get("perceptual_metric"):
        row.update(perceptual=r[r["perceptual_metric"]], perceptual_metric=r["perceptual_metric"])
        row.update({m: r[m] for m in PERCEPTUAL if m in r})
    if is_set:
        row.update(set=r["set"], shared_bits=r["shared_bits"])
    row.update(decoded_ok=r["decoded_ok"], encode_s=r["encode_s"], decode_s=r["decode_s"])
    return row


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
