"""Figures of the VQ-DeepVSC experiments (seed 002, Figs. 6-7 and the ablations).

    python scripts/plot_vqdeepvsc.py results/vqdeepvsc-vs-h265 [results/vqdeepvsc-ablations]

For the comparison: ``fig6_ms_ssim.png`` and ``fig7_perceptual.png``, a 2 x 2 grid (channel x
modulation) of the metric vs SNR per codec, mean over clips and channel realisations with a
95 % confidence band (t interval over those rows), and ``summary.csv`` (mean, CI half-width,
n per codec/channel/modulation/SNR). For the ablations: ``ablations.png`` (MS-SSIM vs SNR per
variant) and ``eta_rate.png`` (eq.-19 BCR vs MS-SSIM at the highest SNR, one point per eta).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402


def _ci(x: pd.Series) -> float:
    x = x.dropna()
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def summary(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    g = df.groupby(["codec", "channel", "modulation", "snr_db"])[metric]
    return pd.DataFrame({"mean": g.mean(), "ci95": g.apply(_ci), "n": g.count()}).reset_index()


def grid(df: pd.DataFrame, metric: str, label: str, out: Path) -> None:
    chans, mods = sorted(df["channel"].unique()), sorted(df["modulation"].unique())
    fig, axes = plt.subplots(len(chans), len(mods), figsize=(4.2 * len(mods), 3.2 * len(chans)), squeeze=False, sharey=True)
    s = summary(df, metric)
    for i, ch in enumerate(chans):
        for j, mod in enumerate(mods):
            ax = axes[i][j]
            for k, (codec, g) in enumerate(s[(s.channel == ch) & (s.modulation == mod)].groupby("codec")):
                g = g.sort_values("snr_db")
                ax.plot(g.snr_db, g["mean"], marker="os^dv"[k % 5], label=codec, color=f"C{k}")
                ax.fill_between(g.snr_db, g["mean"] - g.ci95, g["mean"] + g.ci95, alpha=0.2, color=f"C{k}")
            ax.set_title(f"{ch}, {mod}, LDPC 3/4", fontsize=9)
            ax.set_xlabel("SNR (Es/N0) [dB]")
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel(label)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


def main(args: list[str]) -> None:
    main_dir = Path(args[0] if args else "results/vqdeepvsc-vs-h265")
    df = pd.read_csv(main_dir / "results.csv")
    pcol = "lpips" if "lpips" in df.columns and df["lpips"].notna().any() else "st_lpips"
    grid(df, "ms_ssim", "MS-SSIM", main_dir / "fig6_ms_ssim.png")
    grid(df, pcol, f"{pcol.upper().replace('_', '-')} (lower is better)", main_dir / "fig7_perceptual.png")
    tab = summary(df, "ms_ssim").merge(summary(df, pcol), on=["codec", "channel", "modulation", "snr_db", "n"],
                                       suffixes=("_ms_ssim", f"_{pcol}"))
    bcr = df.groupby("codec")["bcr"].mean().round(5)
    tab["bcr_mean"] = tab["codec"].map(bcr)
    tab.round(4).to_csv(main_dir / "summary.csv", index=False)
    print(tab.round(4).to_string(index=False))
    if len(args) > 1:
        ab_dir = Path(args[1])
        ab = pd.read_csv(ab_dir / "results.csv")
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        s = summary(ab, "ms_ssim")
        for k, (codec, g) in enumerate(s.groupby("codec")):
            g = g.sort_values("snr_db")
            ax.errorbar(g.snr_db + 0.15 * k, g["mean"], yerr=g.ci95, marker="os^dv<>"[k % 7], label=codec, capsize=2)
        ax.set_xlabel("SNR (Es/N0) [dB], AWGN, QPSK, LDPC 3/4")
        ax.set_ylabel("MS-SSIM")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(ab_dir / "ablations.png", dpi=130)
        plt.close(fig)
        top = ab[ab.snr_db == ab.snr_db.max()].copy()
        info = top["encode_info"].apply(json.loads)
        for k in ("bcr_eq19", "repeats", "key_frames", "channels"):
            top[k] = info.apply(lambda d, k=k: d.get(k))
        t = top.groupby("codec").agg(bcr=("bcr", "mean"), bcr_eq19=("bcr_eq19", "mean"), repeats=("repeats", "mean"),
                                     ms_ssim=("ms_ssim", "mean"), psnr=("psnr", "mean")).reset_index()
        t.round(5).to_csv(ab_dir / "summary_top_snr.csv", index=False)
        sab = summary(ab, "ms_ssim")
        sab.round(4).to_csv(ab_dir / "summary.csv", index=False)
        print(t.round(5).to_string(index=False))
        eta = t[t.codec.str.startswith("eta")]
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        eta = eta.sort_values("bcr_eq19")
        ax.plot(eta.bcr_eq19, eta.ms_ssim, "o-")
        for _, r in eta.iterrows():
            ax.annotate(r.codec, (r.bcr_eq19, r.ms_ssim), fontsize=7)
        ax.set_xlabel("BCR of eq. 19 (one copy of v, s_eta, p)")
        ax.set_ylabel(f"MS-SSIM at {ab.snr_db.max():g} dB")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(ab_dir / "eta_rate.png", dpi=130)


if __name__ == "__main__":
    main(sys.argv[1:])
