"""``semlink data``: list datasets, fetch optional ones and offline corpus sources, pack a training corpus."""

from __future__ import annotations

import argparse
import importlib.util

from semlink.errors import ConfigError

from .fetch import fetch
from .registry import dataset_spec, list_datasets


def _installed(package: str | None) -> bool:
    if package is None:
        return True
    return importlib.util.find_spec(package.replace("-", "_")) is not None


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``data`` subcommand (``list``, ``fetch NAME``) to ``subparsers``."""
    p = subparsers.add_parser(
        "data",
        help="list datasets / fetch optional dataset packages",
        description="Datasets ship inside installed packages; optional ones are installed with pip. "
                    "Your own images or videos: dataset 'folder' (--dataset folder:DIR in codec / rd / train).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = p.add_subparsers(dest="data_command", required=True)
    lp = sub.add_parser("list", help="list registered datasets and whether they are installed (folder: --dataset folder:DIR)")
    lp.set_defaults(func=_list)
    fp = sub.add_parser("fetch", help="install an optional dataset (pip, e.g. vc2) or fetch a corpus source "
                        "(Debian package, see `semlink data sources`)")
    fp.add_argument("name", help="dataset or corpus source name")
    fp.add_argument("--deb", default=None, help="corpus source: use this downloaded .deb instead of apt-get download")
    fp.add_argument("--dest", default=None, help="corpus source: folder to put it in (default: the user cache)")
    fp.set_defaults(func=_fetch)
    sp = sub.add_parser("sources", help="list the offline training-corpus sources and whether they are fetched")
    sp.set_defaults(func=_sources)
    pp = sub.add_parser("pack", help="write a compact training corpus (JPEG q95 images <= --max-side px + manifest)",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    pp.add_argument("--out", required=True, help="output folder")
    pp.add_argument("--sources", default="all",
                    help="comma-separated corpus sources (fetched first with `semlink data fetch NAME`); 'all': every "
                         "image source (corpus v2); 'v1': the 55-image pack of the v2 zoo")
    pp.add_argument("--max-side", type=int, default=1024, help="longer side of every packed image at most this")
    pp.add_argument("--quality", type=int, default=95, help="JPEG quality")
    pp.set_defaults(func=_pack)
    vp = sub.add_parser("video-pack", help="write the training video corpus: the offline clips + synthetic camera "
                                           "motion over a pack's photographs (labelled synthetic)",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    vp.add_argument("--out", required=True, help="output folder")
    vp.add_argument("--photos", required=True, help="a training pack (`semlink data pack`) for the synthetic clips")
    vp.add_argument("--clips", type=int, default=120, help="synthetic clips")
    vp.add_argument("--frames", type=int, default=32, help="frames per clip (real clips are cut to it)")
    vp.add_argument("--size", default="320x240", help="WxH of the synthetic clips")
    vp.add_argument("--max-side", type=int, default=640, help="longer side of the real clips at most this")
    vp.add_argument("--seed", type=int, default=0)
    vp.set_defaults(func=_video_pack)
    return p


def _video_pack(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .video_pack import video_pack

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must be WxH, e.g. 320x240, got {args.size!r}") from None
    m = video_pack(Path(args.out).expanduser(), Path(args.photos).expanduser(), clips=args.clips, frames=args.frames,
                   size=(w, h), max_side=args.max_side, seed=args.seed)
    print(f"{m['real']} real and {m['synthetic']} synthetic clips of {args.frames} frames in {args.out} "
          f"(manifest hash {m['hash']})")
    return 0


def _sources(args: argparse.Namespace) -> int:
    from .corpus import SOURCES, source_dir

    for name, src in SOURCES.items():
        done = name in ("bundled", "sklearn-photos") or (source_dir(name) / "source.json").is_file()
        state = "fetched" if done else f"semlink data fetch {name}"
        print(f"{name:20s} {src.kind:6s} {state:42s} {src.description}; licence {src.licence}")
    return 0


def _pack(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .corpus import DEFAULT_PACK_SOURCES, PACK_V1_SOURCES, pack

    names = {"all": list(DEFAULT_PACK_SOURCES), "v1": list(PACK_V1_SOURCES)}.get(args.sources) or \
        [s for s in args.sources.split(",") if s]
    m = pack(Path(args.out), names, max_side=args.max_side, quality=args.quality)
    per = {}
    for e in m["images"]:
        per[e["source"]] = per.get(e["source"], 0) + 1
    print(f"{len(m['images'])} images, {m['pixels'] / 1e6:.1f} Mpixel, {m['bytes'] / 2**20:.1f} MiB in {args.out} "
          f"(manifest hash {m['hash']}): " + ", ".join(f"{k} {v}" for k, v in per.items()))
    return 0


def _list(args: argparse.Namespace) -> int:
    for name in list_datasets():
        spec = dataset_spec(name)
        if name == "folder":
            state = "your files: --dataset folder:DIR"
        else:
            state = "installed" if _installed(spec.package) else f"not installed (semlink data fetch {name})"
        print(f"{name:10s} {spec.kind:6s} {state:40s} {spec.description}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .corpus import SOURCES
    from .corpus import fetch as fetch_source

    if args.name in SOURCES:
        dest = fetch_source(args.name, Path(args.dest) if args.dest else None, Path(args.deb) if args.deb else None)
        print(f"fetched {args.name} into {dest}")
        return 0
    try:
        return fetch(args.name)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
