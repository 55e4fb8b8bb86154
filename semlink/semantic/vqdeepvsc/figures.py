"""Figures of the VQ-DeepVSC experiments (seed 002, Figs. 6-7 and the ablations):
``semlink figure vqdeepvsc-fig6-7 [results/vqdeepvsc-vs-h265]`` and
``semlink figure vqdeepvsc-ablations [results/vqdeepvsc-ablations]``.

* ``vqdeepvsc-fig6-7``: ``fig6_ms_ssim.png`` and ``fig7_perceptual.png``, a channel x modulation
  grid of the metric vs SNR per codec (mean over clips and channel realisations with a 95 %
  band), and ``summary.csv`` (mean, half-width, n per codec/channel/modulation/SNR).
* ``vqdeepvsc-ablations``: ``ablations.png`` (MS-SSIM vs SNR per variant), ``eta_rate.png``
  (eq.-19 BCR vs MS-SSIM at the highest SNR, one point per eta), ``summary.csv`` and
  ``summary_top_snr.csv``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from semlink.figures import register_figure
from semlink.results import facets, load, new_figure, save, summarize

BY = ["codec", "channel", "modulation", "snr_db"]


def summary(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """mean, ci95 (half-width) and n of ``metric`` per codec, channel, modulation and SNR."""
    s = summarize(df, BY, metric)
    return s[BY].assign(mean=s["mean"], ci95=s["half_width"].fillna(0.0), n=s["n"])


def _code_label(df: pd.DataFrame) -> str:
    """ "LDPC 3/4" from the code column (several: joined)."""
    rates = sorted({str(c).rsplit("-", 1)[-1] for c in df["code"].dropna()})
    return "LDPC " + "/".join(rates) if rates else ""


def grid(df: pd.DataFrame, metric: str, label: str, ax=None):
    """``metric`` vs SNR in a channel x modulation grid (one line and 95 % band per codec)."""
    s = summary(df, metric)
    fig, axes, cells = facets(s, row="channel", col="modulation", ax=ax, panel=(4.2, 3.2))
    code = _code_label(df)
    for k_cell, ((ch, mod, t), a) in enumerate(zip(cells, axes.reshape(-1))):
        for k, (codec, g) in enumerate(t.groupby("codec", sort=True)):
            g = g.sort_values("snr_db")
            a.plot(g["snr_db"], g["mean"], marker="os^dv"[k % 5], label=codec, color=f"C{k}")
            a.fill_between(g["snr_db"], g["mean"] - g["ci95"], g["mean"] + g["ci95"], alpha=0.2, color=f"C{k}")
        a.set_title(f"{ch}, {mod}, {code}", fontsize=9)
        a.set_xlabel("SNR (Es/N0) [dB]")
        a.grid(alpha=0.3)
        if k_cell % axes.shape[1] == 0:
            a.set_ylabel(label)
    axes[0][0].legend(fontsize=7)
    if ax is None:
        fig.tight_layout()
    return fig


def _perceptual(df: pd.DataFrame) -> str:
    return "lpips" if "lpips" in df.columns and df["lpips"].notna().any() else "st_lpips"


@register_figure("vqdeepvsc-fig6-7", inputs=("results/vqdeepvsc-vs-h265",),
                 summary="VQ-DeepVSC Figs. 6-7: MS-SSIM and perceptual distance vs SNR, channel x modulation "
                         "(fig6_ms_ssim.png, fig7_perceptual.png, summary.csv)")
def figs_6_7(inputs: list[Path], out: Path) -> list[Path]:
    df = load(inputs)
    pcol = _perceptual(df)
    files = save(grid(df, "ms_ssim", "MS-SSIM"), out / "fig6_ms_ssim", formats=("png",))
    files += save(grid(df, pcol, f"{pcol.upper().replace('_', '-')} (lower is better)"), out / "fig7_perceptual",
                  formats=("png",))
    tab = summary(df, "ms_ssim").merge(summary(df, pcol), on=[*BY, "n"], suffixes=("_ms_ssim", f"_{pcol}"))
    tab["bcr_mean"] = tab["codec"].map(df.groupby("codec")["bcr"].mean().round(5))
    tab = tab[["codec", "channel", "modulation", "snr_db", "mean_ms_ssim", "ci95_ms_ssim", "n", f"mean_{pcol}",
               f"ci95_{pcol}", "bcr_mean"]]
    tab.round(4).to_csv(out / "summary.csv", index=False)
    return files + [out / "summary.csv"]


@register_figure("vqdeepvsc-ablations", inputs=("results/vqdeepvsc-ablations",),
                 summary="VQ-DeepVSC ablations: MS-SSIM vs SNR per variant, eq.-19 BCR vs MS-SSIM per eta "
                         "(ablations.png, eta_rate.png, summary.csv, summary_top_snr.csv)")
def ablations(inputs: list[Path], out: Path) -> list[Path]:
    ab = load(inputs)
    s = summary(ab, "ms_ssim")
    fig = new_figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    for k, (codec, g) in enumerate(s.groupby("codec", sort=True)):
        g = g.sort_values("snr_db")
        ax.errorbar(g["snr_db"] + 0.15 * k, g["mean"], yerr=g["ci95"], marker="os^dv<>"[k % 7], label=codec, capsize=2)
    links = "; ".join(sorted({f"{c.upper()}, {m.upper()}" for c, m in zip(ab["channel"], ab["modulation"])}))
    ax.set_xlabel(f"SNR (Es/N0) [dB], {links}, {_code_label(ab)}")
    ax.set_ylabel("MS-SSIM")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    files = save(fig, out / "ablations", formats=("png",))
    top = ab[ab["snr_db"] == ab["snr_db"].max()]
    t = top.groupby("codec", sort=True).agg(
        bcr=("bcr", "mean"), bcr_eq19=("encode_info.bcr_eq19", "mean"), repeats=("encode_info.repeats", "mean"),
        ms_ssim=("ms_ssim", "mean"), psnr=("psnr", "mean")).reset_index()
    t.round(5).to_csv(out / "summary_top_snr.csv", index=False)
    s.round(4).to_csv(out / "summary.csv", index=False)
    files += [out / "summary_top_snr.csv", out / "summary.csv"]
    eta = t[t["codec"].str.startswith("eta")].sort_values("bcr_eq19")
    fig = new_figure(figsize=(4.5, 3.2))
    ax = fig.subplots()
    ax.plot(eta["bcr_eq19"], eta["ms_ssim"], "o-")
    for r in eta.itertuples():
        ax.annotate(r.codec, (r.bcr_eq19, r.ms_ssim), fontsize=7)
    ax.set_xlabel("BCR of eq. 19 (one copy of v, s_eta, p)")
    ax.set_ylabel(f"MS-SSIM at {ab['snr_db'].max():g} dB")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return files + save(fig, out / "eta_rate", formats=("png",))
