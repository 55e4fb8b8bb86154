"""Figures of the gan-c2f study (seed 001) from `semlink rd --perceptual` output and the zoo.

    python scripts/plot_gan_c2f.py results/gan-c2f-rd [--item chelsea]

Writes into the rd directory:

* ``perception_distortion.png/.pdf``: mean PSNR (x) vs mean perceptual distance (y, lower =
  better) of every rate point, gan-c2f's four points annotated with their mean bpp and layer
  split, classical codecs below 0.2 bpp for reference (the paper's perception-distortion
  trade-off: moving bits from the generated base to the residual enhancement layer);
* ``crops.png``: the same crop of ``--item`` decoded by gan-c2f (base 8 only) and by each
  classical codec at the same bpp target (their own rate control), with bpp, PSNR and the
  perceptual distance under each;
* ``operating_points.csv``: the numbers behind both.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def _mean_points(rows):
    from collections import defaultdict

    acc = defaultdict(list)
    for r in rows:
        acc[(r["codec"], r["param"], r["value"])].append(r)
    out = []
    for (codec, param, value), rs in acc.items():
        out.append({"codec": codec, "param": param, "value": value, "n": len(rs),
                    "bpp": np.mean([float(r["bpp"]) for r in rs]), "psnr_db": np.mean([float(r["psnr_db"]) for r in rs]),
                    "ms_ssim": np.mean([float(r["ms_ssim"]) for r in rs]),
                    "perceptual": np.mean([float(r["perceptual"]) for r in rs])})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rd_dir")
    ap.add_argument("--item", default="chelsea")
    ap.add_argument("--quality", type=int, default=2, help="gan-c2f rate point of the crops figure")
    ap.add_argument("--crop", type=int, default=192)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semlink.codecs import get_codec
    from semlink.data import get_dataset
    from semlink.simulator import metrics

    d = Path(args.rd_dir)
    rows = list(csv.DictReader((d / "rd.csv").open()))
    if not rows or "perceptual" not in rows[0]:
        raise SystemExit(f"{d}/rd.csv has no perceptual column: run `semlink rd ... --perceptual auto`")
    pm_name = rows[0]["perceptual_metric"]
    pts = _mean_points(rows)
    with (d / "operating_points.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(pts[0]))
        w.writeheader()
        for p in sorted(pts, key=lambda p: (p["codec"], p["bpp"])):
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in p.items()})

    gan = get_codec("gan-c2f")
    table = gan.rate_table()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for codec in dict.fromkeys(p["codec"] for p in pts):
        cp = sorted((p for p in pts if p["codec"] == codec and (codec == "gan-c2f" or p["bpp"] < 0.2)), key=lambda p: p["bpp"])
        if not cp:
            continue
        ax.plot([p["psnr_db"] for p in cp], [p["perceptual"] for p in cp], marker="o", ms=4,
                lw=2.0 if codec == "gan-c2f" else 1.0, ls="-" if codec == "gan-c2f" else ":", label=codec)
        if codec == "gan-c2f":
            for i, p in enumerate(cp):
                keep, e = table[int(p["value"])]
                ax.annotate(f"q{p['value']}: {p['bpp']:.3f} bpp\nbase {keep}ch{'' if e is None else ' + enh'}",
                            (p["psnr_db"], p["perceptual"]), fontsize=7, xytext=(-70 if i % 2 else 6, -24 if i % 2 else 6),
                            textcoords="offset points", arrowprops={"arrowstyle": "-", "lw": 0.5})
    ax.set_xlabel("PSNR [dB] (distortion: right is better)")
    ax.set_ylabel(f"{pm_name} (perception: lower is better)")
    ax.set_title(f"perception-distortion, {rows[0]['dataset']}: codecs below 0.2 bpp")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(d / f"perception_distortion.{ext}", dpi=150)
    plt.close(fig)

    # example crops at the same bpp
    item = next(i for i in get_dataset(rows[0]["dataset"]).items if i.name == args.item)
    x = item.data
    h, w = x.shape[:2]
    pm = metrics.perceptual_metric("auto")
    enc = gan.encode(x, quality=args.quality)
    target = enc.num_bits / (h * w)
    panels = [("original", x, None), ("gan-c2f", gan.decode(enc).data, target)]
    for name in ("heic", "webp", "jpeg2000", "jpeg"):
        c = get_codec(name)
        e = c.encode(x, bpp=target)
        panels.append((name, c.decode(e).data, e.num_bits / (h * w)))
    cs = min(args.crop, h, w)
    y0, x0 = (h - cs) // 2, (w - cs) // 2
    fig, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.9))
    for ax, (name, img, b) in zip(axes, panels):
        ax.imshow(img[y0 : y0 + cs, x0 : x0 + cs])
        ax.set_xticks([])
        ax.set_yticks([])
        if b is None:
            ax.set_title(name, fontsize=9)
        else:
            ax.set_title(f"{name}\n{b:.3f} bpp, {metrics.psnr(x, img):.1f} dB\n{pm.name} {pm(x, img):.3f}", fontsize=8)
    fig.suptitle(f"{args.item}: centre {cs}x{cs} crop; each codec at gan-c2f q{args.quality}'s rate (its own rate control)", fontsize=9)
    fig.tight_layout()
    fig.savefig(d / "crops.png", dpi=150)
    plt.close(fig)
    print(f"wrote {d}/perception_distortion.png/.pdf, crops.png, operating_points.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
