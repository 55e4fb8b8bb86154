"""``semlink codec NAME``: code a dataset with one codec, print rate and quality per item.

Example::

    semlink codec jpeg2000 --dataset photos --bpp 0.25
    semlink codec h265 --dataset clips --max-frames 8 --crf 30 --perceptual none
    semlink codec jpeg --dataset folder:my_pictures --quality 50

Lives in :mod:`semlink.simulator` (not :mod:`semlink.codecs`) because it uses the metrics:
``semlink.codecs`` never imports ``semlink.simulator``. The loop is
:func:`semlink.evaluate.evaluate` (the sweep's metric definitions: a clip's PSNR and MS-SSIM are
the means over its frames); ``sec`` is encoding + decoding time.
"""

from __future__ import annotations

import argparse
import inspect
import math

import numpy as np

from ..codecs import get_codec, list_codecs
from ..data import dataset_spec, get_dataset, parse_dataset_arg
from ..evaluate import evaluate
from ..results.stats import mean_ci
from . import metrics

_RATE_FLAGS = ("bpp", "quality", "crf", "qp", "bitrate", "bcr")


def _hw(text: str) -> int | tuple[int, int]:
    """'256' -> 256, '256x384' -> (256, 384) (H x W)."""
    if "x" in text:
        h, w = text.lower().split("x")
        return int(h), int(w)
    return int(text)


def _option(text: str):
    from semlink.options import parse_key_value

    try:
        return parse_key_value(text, "codec option")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``codec`` subcommand to ``subparsers``; sets ``func``."""
    p = subparsers.add_parser(
        "codec",
        help="code a dataset with one codec and print bpp / PSNR / MS-SSIM / perceptual metric",
        description="Encode and decode every item of a dataset (no channel) and print rate and quality.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("name", help=f"codec name ({', '.join(list_codecs())})")
    p.add_argument(
        "--dataset", default=None,
        help="dataset name (semlink data list) or folder:DIR (your own images or videos in DIR); "
             "default: photos for image codecs, clips for video codecs",
    )
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--bpp", type=float, help="target bits per pixel (image codecs)")
    rate.add_argument("--quality", type=float, help="native quality (image codecs; jpeg2000: compression ratio)")
    rate.add_argument("--crf", type=float, help="CRF (video codecs)")
    rate.add_argument("--qp", type=float, help="constant QP (video codecs)")
    rate.add_argument("--bitrate", type=float, help="target bits/s (video codecs)")
    rate.add_argument("--bcr", type=float, help="target bit compression ratio bits/(3*H*W*8*T) (video codecs)")
    p.add_argument("--max-items", type=int, default=None, help="use only the first N items")
    p.add_argument("--size", type=_hw, default=None, help="resize: shorter side N, or HxW")
    p.add_argument("--crop", type=_hw, default=None, help="centre crop: N (square) or HxW, after --size")
    p.add_argument("--max-frames", type=int, default=16, help="frames per clip (video datasets, folder:DIR of videos)")
    p.add_argument(
        "--perceptual", choices=("auto", "lpips", "st_lpips", "none"), default="auto",
        help="perceptual metric: auto = LPIPS if its weights are cached offline, else ST-LPIPS",
    )
    p.add_argument("-o", "--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="codec constructor option, e.g. -o subsampling=4:4:4 -o gop=1")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Execute ``semlink codec``; returns the exit code."""
    try:
        codec = get_codec(args.name, **dict(args.option))
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}")
        return 2
    dataset = args.dataset or ("clips" if codec.kind == "video" else "photos")
    name, opts = parse_dataset_arg(dataset)
    if "max_frames" in inspect.signature(dataset_spec(name).build).parameters:
        opts["max_frames"] = args.max_frames
    ds = get_dataset(name, size=args.size, crop=args.crop, max_items=args.max_items, **opts)
    if ds.kind != codec.kind:
        print(f"error: codec {codec.name} codes {codec.kind}s but dataset {dataset} holds {ds.kind}s")
        return 2
    rate = {k: getattr(args, k) for k in _RATE_FLAGS if getattr(args, k) is not None}
    perceptual = None if args.perceptual == "none" else metrics.perceptual_metric(args.perceptual)
    pname = perceptual.name if perceptual else "-"
    rate_col = "bcr" if codec.kind == "video" else "bpp"
    print(f"codec {codec.name}  dataset {dataset}  rate {rate or 'default'}")
    print(f"{'item':20s} {'shape':>18s} {rate_col:>9s} {'psnr_db':>8s} {'ms_ssim':>8s} {pname:>9s} {'ok':>3s} {'sec':>6s}")
    rows = []

    def show(row: dict) -> None:
        r, q, s = row[rate_col], row["psnr"], row["ms_ssim"]
        d = row[perceptual.name] if perceptual else math.nan
        rows.append((r, q, s, d))
        shape = f"{row['frames']}x{row['height']}x{row['width']}x3" if codec.kind == "video" else \
            f"{row['height']}x{row['width']}x3"
        print(f"{row['item']:20s} {shape:>18s} {r:9.5f} {q:8.3f} {s:8.5f} {d:9.5f} {'y' if row['decoded_ok'] else 'n':>3s} "
              f"{row['encode_s'] + row['decode_s']:6.1f}")

    try:
        evaluate(codec, ds, rate, ("psnr", "ms_ssim", "perceptual") if perceptual else ("psnr", "ms_ssim"),
                 perceptual=perceptual, on_row=show)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}")
        return 2
    if rows:
        m = np.array(rows, dtype=float)
        means = [mean_ci(m[:, i], inf="keep")["mean"] for i in range(4)]
        print(f"{'mean':20s} {'':>18s} {means[0]:9.5f} {means[1]:8.3f} {means[2]:8.5f} {means[3]:9.5f}")
    return 0
