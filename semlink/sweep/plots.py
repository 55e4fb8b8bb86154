"""Plots of a results table: quality/BER vs SNR (mean and 95 % CI over items and trials) and a
rate breakdown (stacked bits per part). PNG and PDF side by side."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

METRIC_LABELS = {
    "psnr": "PSNR [dB]", "ms_ssim": "MS-SSIM", "lpips": "LPIPS (AlexNet) - lower is better",
    "st_lpips": "ST-LPIPS (VGG, shift-tolerant) - lower is better", "ber": "post-FEC BER", "bler": "BLER",
    "raw_ber": "raw (pre-FEC) BER",
}
LOG_METRICS = {"ber", "bler", "raw_ber"}


def _mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95 % confidence interval (Student t)."""
    from scipy import stats

    v = np.asarray([x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))], float)
    if v.size == 0:
        return math.nan, math.nan
    finite = v[np.isfinite(v)]
    m = float(np.mean(v)) if finite.size == v.size else float(np.mean(finite)) if finite.size else math.nan
    if finite.size < 2:
        return m, 0.0
    half = float(stats.t.ppf(0.975, finite.size - 1) * finite.std(ddof=1) / math.sqrt(finite.size))
    return m, half


def _title(rows: list[dict]) -> str:
    links = sorted({str(r.get("link", "")) for r in rows})
    rates = defaultdict(list)
    for r in rows:
        rates[r["codec"]].append(r.get("cbr") if r.get("mode") == "phy" else r.get("cbr_budget"))
    cbr = ", ".join(f"{c} CBR {np.nanmean([x for x in v if isinstance(x, (int, float))]):.4f}" for c, v in sorted(rates.items()))
    head = "; ".join(links) if len(links) <= 2 else f"{len(links)} link configs"
    return f"{head}\n{cbr}"


def plot_metric(rows: list[dict], metric: str, out: Path) -> list[Path]:
    """Metric vs SNR, one line per (codec, rate, link) with its 95 % CI band. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    have = [r for r in rows if metric in r and r[metric] not in ("", None)]
    if not have:
        cols = sorted({k for r in rows for k in r if k in METRIC_LABELS})
        raise ValueError(f"metric={metric!r} is not in the results; available: {', '.join(cols)}")
    links = sorted({r.get("link", "") for r in have})
    series = defaultdict(lambda: defaultdict(list))
    for r in have:
        name = f"{r['codec']} ({r['rate_target'] if 'rate_target' in r else r['rate']})"
        if len(links) > 1:
            name += f" | {r.get('link', '')}"
        series[name][float(r["snr_db"])].append(float(r[metric]))
    fig, ax = plt.subplots(figsize=(6.6, 4.6))
    for name, by_snr in sorted(series.items()):
        snr = np.array(sorted(by_snr))
        stats = [_mean_ci(by_snr[s]) for s in snr]
        m = np.array([s[0] for s in stats])
        ci = np.array([s[1] for s in stats])
        if metric in LOG_METRICS:
            m = np.where(m > 0, m, np.nan)
        line, = ax.plot(snr, m, "o-", ms=3, label=name)
        lo = m - ci
        if metric in LOG_METRICS:
            lo = np.where(lo > 0, lo, np.nanmin(m[m > 0]) / 10 if np.any(m > 0) else 1e-9)
        ax.fill_between(snr, lo, m + ci, color=line.get_color(), alpha=0.2, lw=0)
    if metric in LOG_METRICS:
        if any(float(r[metric]) > 0 for r in have):
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "no errors observed", transform=ax.transAxes, ha="center")
    ax.set_xlabel("SNR = Es/N0 per resource element [dB]")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(_title(have), fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(out), plt)


def plot_rate_breakdown(rows: list[dict], out: Path) -> list[Path]:
    """Stacked bar chart of the mean transmitted bits per part, per codec and rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per = defaultdict(lambda: defaultdict(list))
    seen = set()
    for r in rows:
        # channel-adaptive codecs code differently per SNR: one bar per SNR; the others' bits
        # do not depend on SNR/trial (phy mode): each encoding is counted once
        adaptive = str(r.get("channel_adaptive", "")).lower() in ("true", "1")
        snr = f"\n{float(r['snr_db']):g} dB" if adaptive else ""
        k = (r["codec"], r.get("rate"), r["item"], snr)
        if k in seen:
            continue
        seen.add(k)
        parts = r.get("bits_by_part") or "{}"
        parts = json.loads(parts) if isinstance(parts, str) else parts
        for p, b in parts.items():
            per[f"{r['codec']}\n{r.get('rate')}{snr}"][p].append(float(b))
    if not per:
        raise ValueError("no bits_by_part column in the results")
    labels = sorted(per)
    part_names = sorted({p for d in per.values() for p in d})
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) + 2), 4.2))
    bottom = np.zeros(len(labels))
    for p in part_names:
        vals = np.array([np.mean(per[l][p]) / 1e3 if per[l][p] else 0.0 for l in labels])
        ax.bar(labels, vals, bottom=bottom, label=p)
        bottom += vals
    ax.set_ylabel("transmitted kbit per item (mean over items)")
    ax.set_title("rate breakdown by part (every transmitted bit)", fontsize=9)
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return _save(fig, Path(out), plt)


def plot_mcs(rows: list[dict], out: Path) -> list[Path]:
    """The MCS link adaptation chose at each SNR (information bits per resource element; 0 = outage)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semlink.phy.mcs import info_bits_per_symbol

    per = defaultdict(dict)
    for r in rows:
        if r.get("mcs"):
            per[r.get("link", "")][float(r["snr_db"])] = r["mcs"]
    if not per:
        raise ValueError("no mcs column in the results (no link adaptation)")
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    names = set()
    for link, pts in sorted(per.items()):
        snr = sorted(pts)
        ax.step(snr, [0.0 if pts[s] == "outage" else info_bits_per_symbol(pts[s]) for s in snr], where="post",
                marker="o", label=link)
        names |= {pts[s] for s in snr}
    ticks = sorted({0.0} | {info_bits_per_symbol(n) for n in names if n != "outage"})
    labels = {0.0: "outage", **{info_bits_per_symbol(n): n for n in names if n != "outage"}}
    ax.set_yticks(ticks, [labels[t] for t in ticks], fontsize=7)
    ax.set_xlabel("SNR = Es/N0 per resource element [dB]")
    ax.set_ylabel("chosen MCS")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, Path(out), plt)


def _save(fig, out: Path, plt) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=130)
    plt.close(fig)
    return paths
