"""The cliff study's figure: one panel per codec, PSNR vs SNR for fixed MCS + conceal (the common
baseline), fixed MCS + decode, link adaptation + decode (+ conceal), and the ideal link at the
same CBR (upper bound). Mean over photos and realisations.

    python scripts/plot_cliff.py results/cliff results/cliff_ideal --out results/cliff/cliff_psnr
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metric", default="psnr")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semlink.sweep import read_table

    rows = [r for p in args.results for r in read_table(p)]
    curves = defaultdict(lambda: defaultdict(list))
    for r in rows:
        codec = str(r["codec"]).split()[0]
        mode = "ideal link (capacity)" if r["mode"] == "ideal" else (
            ("adaptive MCS" if r.get("mcs") not in (None, "") else "QPSK 3/4") + ", " + str(r.get("on_loss") or "decode"))
        curves[codec][mode].append((float(r["snr_db"]), float(r[args.metric])))
    styles = {"QPSK 3/4, conceal": ("C0", "--"), "QPSK 3/4, decode": ("C0", "-"), "adaptive MCS, conceal": ("C1", "--"),
              "adaptive MCS, decode": ("C1", "-"), "ideal link (capacity)": ("k", ":")}
    codecs = sorted(curves)
    fig, axes = plt.subplots(1, len(codecs), figsize=(4.2 * len(codecs), 3.8), sharey=True)
    for ax, codec in zip(np.atleast_1d(axes), codecs):
        for mode, pts in sorted(curves[codec].items()):
            by = defaultdict(list)
            for s, v in pts:
                by[s].append(v)
            snr = sorted(by)
            color, ls = styles.get(mode, ("C2", "-"))
            ax.plot(snr, [np.mean(by[s]) for s in snr], ls, color=color, marker="o", ms=2.5, label=mode)
        ax.set_title(codec, fontsize=10)
        ax.set_xlabel("SNR = Es/N0 per RE [dB]")
        ax.grid(True, alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel(f"{args.metric.upper()} [dB]" if args.metric == "psnr" else args.metric)
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("photos (4) at CBR 0.08 over TDL-C (LS + LMMSE): mean over images and realisations", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for ext in (".png", ".pdf"):
        fig.savefig(args.out.with_suffix(ext), dpi=130)
    print(f"wrote {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
