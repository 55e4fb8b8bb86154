"""``semlink rd``: rate-distortion curves of image codecs on a dataset, plots and BD-rates.

Example (the report under ``results/rd-photos/``)::

    semlink rd --dataset photos --codecs hyperprior=all,jpeg2000,jpeg,webp,heic \
        --anchor jpeg2000 --out results/rd-photos
    semlink rd --dataset folder:my_pictures --codecs jpeg,webp --anchor jpeg --out results/rd-mine

``NAME=all`` sweeps every rate point a codec lists (a learned codec's shipped ``qualities()``, a
classical codec's native ``rate_points()``), ``NAME`` alone (or
``NAME=bpp``) the bpp grid :data:`semlink.rd.curves.RATE_GRID_BPP`, ``NAME=bpp:0.1:0.3:1`` the
given bpp targets. Writes ``rd.csv`` (one row per item and rate point), ``rd_mean.csv`` (mean
curve per codec), ``bd_rate.csv`` (against each ``--anchor``, PSNR and MS-SSIM) and the plots
``rd_psnr`` / ``rd_msssim`` (PNG + PDF). A set codec (``seb``, ``dvc-pair``) codes the dataset as
sets (``encode_set``; ``--set-size N``), every bit counted: each image carries its own parts
and an equal share of its set's shared parts.

Anchors: semlink's ``jpeg2000`` (OpenJPEG through Pillow, colour transform, raw codestream) needs
about a fifth fewer bits than ``jpeg2000-ffmpeg`` (FFmpeg's libopenjpeg on yuv444p in a .jp2, the
anchor of CompressAI's published curves), so BD-rates against the two differ; ``--anchor
jpeg2000,jpeg2000-ffmpeg`` reports both (every anchor must be among ``--codecs``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from semlink.errors import ConfigError


def _parse_perceptual(text: str) -> str:
    """``--perceptual``: comma-separated metric names, checked ("auto" = st_lpips)."""
    from semlink.results.schema import PERCEPTUAL

    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in ("auto", *PERCEPTUAL)]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown perceptual metric(s) {', '.join(bad) or repr(text)}; "
                                         f"choose from auto, {', '.join(PERCEPTUAL)}")
    return ",".join("st_lpips" if n == "auto" else n for n in names)


def _parse_codecs(text: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        name, _, spec = part.partition("=")
        if not spec or spec == "bpp":
            out[name] = "bpp"
        elif spec == "all":
            out[name] = "all"
        elif spec.startswith("bpp:"):
            try:
                out[name] = [("bpp", float(v)) for v in spec[4:].split(":") if v]
            except ValueError:
                raise argparse.ArgumentTypeError(f"--codecs {part!r}: bpp targets must be numbers") from None
        else:
            raise argparse.ArgumentTypeError(f"--codecs {part!r}: use NAME, NAME=all, NAME=bpp or NAME=bpp:B1:B2:...")
    if not out:
        raise argparse.ArgumentTypeError("--codecs lists no codec")
    return out


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``rd`` subcommand."""
    p = subparsers.add_parser(
        "rd", help="rate-distortion curves, plots and BD-rates of image codecs on a dataset",
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", default="photos",
                   help="image dataset (semlink data list) or folder:DIR (your own images in DIR)")
    p.add_argument("--codecs", type=_parse_codecs, default="hyperprior=all,jpeg2000,jpeg,webp,heic",
                   help="comma-separated NAME[=all|bpp|bpp:B1:B2:...]")
    p.add_argument("--anchor", default="jpeg2000",
                   help="codec(s) the BD-rates are measured against, comma-separated (e.g. jpeg2000,jpeg2000-ffmpeg: "
                        "semlink's anchor and CompressAI's)")
    p.add_argument("--method", default="pchip", choices=("pchip", "akima", "cubic"), help="BD interpolation")
    p.add_argument("--size", type=int, default=None, help="resize: shorter side in pixels")
    p.add_argument("--max-items", type=int, default=None, help="only the first N items")
    p.add_argument("--perceptual", default=None, type=_parse_perceptual,
                   help="also score perceptual distances, comma-separated: lpips (AlexNet), lpips_vgg, st_lpips, dists "
                        "(auto = st_lpips), each with its BD-rate and plot; the first is rd.csv's 'perceptual' column")
    p.add_argument("--set-size", type=int, default=None,
                   help="set codecs (e.g. seb) code sets of N images jointly (default: the whole dataset is one set)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from .bd import bd_rate_table, mean_curve
    from .curves import rd_points
    from semlink.results import frame, ms_ssim_from_db
    from semlink.results.schema import PERCEPTUAL, label
    from semlink.results import plots as P
    from semlink.tables import write_csv

    codecs = args.codecs if isinstance(args.codecs, dict) else _parse_codecs(args.codecs)
    anchors = [a for a in str(args.anchor).split(",") if a]
    missing = [a for a in anchors if a not in codecs]
    if missing or not anchors:
        raise ConfigError(f"--anchor {args.anchor!r} is not one of --codecs ({', '.join(codecs)})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = rd_points(args.dataset, codecs, size=args.size, max_items=args.max_items, progress=not args.no_progress,
                     perceptual=getattr(args, "perceptual", None), set_size=getattr(args, "set_size", None))
    perc = [m for m in PERCEPTUAL if rows and m in rows[0]]
    perc.sort(key=lambda m: m != rows[0].get("perceptual_metric"))  # the first asked for first
    write_csv(out / "rd.csv", rows, float_format=".6g")
    mean_rows = []
    for c in codecs:
        r, q = mean_curve(rows, c, "psnr_db")
        _, m = mean_curve(rows, c, "ms_ssim_db")
        dist = {p_: -mean_curve(rows, c, p_)[1] for p_ in perc}
        for i in range(len(r)):
            mean_rows.append({"codec": c, "bpp": r[i], "psnr_db": q[i], "ms_ssim_db": m[i],
                              "ms_ssim": float(ms_ssim_from_db(m[i])),
                              **({"perceptual": dist[perc[0]][i]} if perc else {}), **{p_: d[i] for p_, d in dist.items()}})
    write_csv(out / "rd_mean.csv", mean_rows, float_format=".6g")
    metrics = ["psnr_db", "ms_ssim_db"] + (["perceptual", *perc[1:]] if perc else [])  # the first: "perceptual"
    bd = [b for anchor in anchors for m in metrics for b in bd_rate_table(rows, anchor, m, args.method)]
    write_csv(out / "bd_rate.csv", bd, float_format=".6g")
    df = frame(rows)
    title = f"{args.dataset}: {len(set(r['item'] for r in rows))} images"
    panels = [("psnr_db", "rd_psnr", "PSNR [dB]"), ("ms_ssim", "rd_msssim", "MS-SSIM")]
    if perc:  # rd_perceptual: the first metric (the name earlier results used), then one per metric
        panels.append(("perceptual", "rd_perceptual", f"{perc[0]} distance (lower = better)"))
        panels += [(p_, f"rd_{p_}", label(p_)) for p_ in perc[1:]]
    for y, name, ylabel in panels:
        P.save(P.plot_rd(df, y, ylabel=ylabel, title=title), out / name, dpi=150)
    print(f"{'codec':15s} {'anchor':15s} {'metric':10s} BD-rate (mean curve / per-item mean, overlap)")
    for b in bd:
        f = lambda v: "n/a" if not math.isfinite(v) else f"{v:+.1f} %"  # noqa: E731
        print(f"{b['codec']:15s} {b['anchor']:15s} {b['metric']:10s} {f(b['bd_rate_mean_curve_pct']):>9s} / "
              f"{f(b['bd_rate_per_item_mean_pct']):>9s}  ({b['overlap']:.2f})")
    print(f"wrote {out}/rd.csv, rd_mean.csv, bd_rate.csv and the plots ({', '.join(n for _, n, _ in panels)})")
    return 0
