"""Rate-distortion plots: mean bpp vs mean PSNR [dB], vs MS-SSIM and, when scored, vs the
perceptual distance (PNG + PDF)."""

from __future__ import annotations

from pathlib import Path

from .bd import mean_curve


def plot_rd(rows: list[dict], out: Path, title: str = "") -> list[Path]:
    """Write ``rd_psnr``, ``rd_msssim`` (and ``rd_perceptual`` when the rows have a
    ``perceptual`` column) plots, one line per codec, into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    codecs = list(dict.fromkeys(r["codec"] for r in rows))
    written = []
    panels = [("psnr_db", "rd_psnr", "PSNR [dB]"), ("ms_ssim_db", "rd_msssim", "MS-SSIM")]
    if rows and "perceptual" in rows[0]:
        panels.append(("perceptual", "rd_perceptual", f"{rows[0]['perceptual_metric']} distance (lower = better)"))
    for metric, name, label in panels:
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for c in codecs:
            r, q = mean_curve(rows, c, metric)
            if metric == "ms_ssim_db":
                q = 1 - 10 ** (-q / 10)
            elif metric == "perceptual":
                q = -q
            ax.plot(r, q, marker="o", ms=3.5, label=c, lw=2.0 if c in ("hyperprior", "gan-c2f") else 1.3)
        ax.set_xlabel("rate [bpp] (all transmitted bits / pixels)")
        ax.set_ylabel(label)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        for ext in ("png", "pdf"):
            fig.savefig(out / f"{name}.{ext}", dpi=150)
            written.append(out / f"{name}.{ext}")
        plt.close(fig)
    return written
