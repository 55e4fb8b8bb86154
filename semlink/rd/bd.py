"""Bjontegaard deltas between rate-distortion curves (``bjontegaard`` package).

BD-rate [%]: average bit-rate difference of a test codec against an anchor at equal quality
over the quality range both curves cover (negative = the test codec needs fewer bits). It is
computed on the dataset's mean curve (mean bpp and mean PSNR / MS-SSIM per rate point, as the
learned-compression literature reports Kodak results) and, for reference, per item and then
averaged. Interpolation: piecewise cubic Hermite (``"pchip"``, JVET's current practice) by
default; ``"cubic"`` is Bjontegaard's original polynomial fit. MS-SSIM is compared in dB,
``-10 log10(1 - MS-SSIM)``; a perceptual distance d (lower = better) as the quality ``-d``
(metric ``"perceptual"``, rd's first perceptual metric, or a metric's own column: ``"lpips"``,
``"lpips_vgg"``, ``"st_lpips"``, ``"dists"``). Each curve is reduced to its monotone envelope first
(:func:`monotone_envelope`: repeated points of a rate control that bottomed out and points
that more bits do not improve are dropped); a curve needs 4 points left.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from semlink.results.schema import PERCEPTUAL, ms_ssim_db

from .curves import as_array

from semlink.errors import ConfigError


def _quality(rows: list[dict], codec: str, metric: str) -> np.ndarray:
    if metric == "psnr_db":
        return as_array(rows, codec, "psnr_db")
    if metric == "ms_ssim_db":
        return ms_ssim_db(as_array(rows, codec, "ms_ssim"))
    if metric == "perceptual" or metric in PERCEPTUAL:
        return -as_array(rows, codec, metric)
    raise ValueError(f"metric must be 'psnr_db', 'ms_ssim_db', 'perceptual' or one of {PERCEPTUAL}, got {metric!r}")


def mean_curve(rows: list[dict], codec: str, metric: str = "psnr_db") -> tuple[np.ndarray, np.ndarray]:
    """(mean bpp, mean quality) per rate point of ``codec``, sorted by rate."""
    r = np.nanmean(as_array(rows, codec, "bpp"), axis=0)
    q = np.nanmean(_quality(rows, codec, metric), axis=0)
    order = np.argsort(r)
    return r[order], q[order]


def monotone_envelope(r: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points of a curve that a BD fit can use: finite, rate > 0, sorted by rate, each of
    higher quality than every point of lower or equal rate (a codec whose rate control bottoms
    out returns the same point for several targets; a point that more bits do not improve is
    dominated). Returns (rates, qualities)."""
    ok = np.isfinite(q) & np.isfinite(r) & (r > 0)
    r, q = r[ok], q[ok]
    order = np.lexsort((-q, r))
    keep_r, keep_q, best = [], [], -np.inf
    for i in order:
        if q[i] > best and (not keep_r or r[i] > keep_r[-1]):
            keep_r.append(r[i])
            keep_q.append(q[i])
            best = q[i]
    return np.asarray(keep_r), np.asarray(keep_q)


def bd_rate(r_a, q_a, r_t, q_t, method: str = "pchip") -> float:
    """BD-rate [%] of the test curve (r_t, q_t) against the anchor (r_a, q_a): each reduced to its
    monotone envelope, nan with fewer than 4 points left or no common quality range."""
    return _bd(r_a, q_a, r_t, q_t, method)


def _bd(r_a, q_a, r_t, q_t, method: str) -> float:
    import bjontegaard

    r_a, q_a = monotone_envelope(np.asarray(r_a, float), np.asarray(q_a, float))
    r_t, q_t = monotone_envelope(np.asarray(r_t, float), np.asarray(q_t, float))
    ok_a, ok_t = np.ones(len(r_a), bool), np.ones(len(r_t), bool)
    if ok_a.sum() < 4 or ok_t.sum() < 4 or overlap(r_a[ok_a], q_a[ok_a], r_t[ok_t], q_t[ok_t]) <= 0:
        return math.nan  # too few points, or no common quality range: no delta to speak of
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(bjontegaard.bd_rate(r_a[ok_a], q_a[ok_a], r_t[ok_t], q_t[ok_t], method=method,
                                             require_matching_points=False))
        except (ValueError, np.linalg.LinAlgError):
            return math.nan


def overlap(r_a, q_a, r_t, q_t) -> float:
    """Fraction of the narrower quality range that both curves cover (0..1)."""
    lo, hi = max(np.nanmin(q_a), np.nanmin(q_t)), min(np.nanmax(q_a), np.nanmax(q_t))
    width = min(np.nanmax(q_a) - np.nanmin(q_a), np.nanmax(q_t) - np.nanmin(q_t))
    return float(max(0.0, hi - lo) / width) if width > 0 else 0.0


def bd_rate_table(rows: list[dict], anchor: str, metric: str = "psnr_db", method: str = "pchip") -> list[dict]:
    """BD-rate of every other codec in ``rows`` against ``anchor``.

    Returns rows: codec, anchor, metric, method, bd_rate_mean_curve_pct, bd_rate_per_item_mean_pct,
    items_used, overlap (fraction of the quality range shared by the two mean curves).
    """
    codecs = list(dict.fromkeys(r["codec"] for r in rows))
    if anchor not in codecs:
        raise ConfigError(f"anchor codec {anchor!r} is not in the rows ({', '.join(codecs)})")
    r_a, q_a = mean_curve(rows, anchor, metric)
    ra_i, qa_i = as_array(rows, anchor, "bpp"), _quality(rows, anchor, metric)
    out = []
    for c in codecs:
        if c == anchor:
            continue
        r_t, q_t = mean_curve(rows, c, metric)
        rt_i, qt_i = as_array(rows, c, "bpp"), _quality(rows, c, metric)
        per_item = []
        for i in range(ra_i.shape[0]):
            oa, ot = np.argsort(ra_i[i]), np.argsort(rt_i[i])
            per_item.append(_bd(ra_i[i][oa], qa_i[i][oa], rt_i[i][ot], qt_i[i][ot], method))
        finite = [v for v in per_item if math.isfinite(v)]
        out.append({
            "codec": c, "anchor": anchor, "metric": metric, "method": method,
            "bd_rate_mean_curve_pct": _bd(r_a, q_a, r_t, q_t, method),
            "bd_rate_per_item_mean_pct": float(np.mean(finite)) if finite else math.nan,
            "items_used": len(finite), "overlap": overlap(r_a, q_a, r_t, q_t),
        })
    return out
