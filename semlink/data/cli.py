"""``semlink data``: list datasets, fetch optional ones."""

from __future__ import annotations

import argparse
import importlib.util

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
    fp = sub.add_parser("fetch", help="install an optional dataset's package with pip (e.g. vc2)")
    fp.add_argument("name", help="dataset name")
    fp.set_defaults(func=_fetch)
    return p


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
    try:
        return fetch(args.name)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
