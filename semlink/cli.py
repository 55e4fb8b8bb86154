"""The ``semlink`` command: one subcommand per job, each with ``--help``.

Subcommands are contributed by modules exposing ``register(subparsers)``; each sets
``func=callable(args) -> exit code``. Heavy imports happen inside the subcommands so that
``semlink --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Modules that contribute subcommands, in the order they are listed in ``--help``.
SUBCOMMAND_MODULES = (
    "semlink.sweep.cli",
    "semlink.phy.cli",
    "semlink.simulator.codec_cli",
    "semlink.data.cli",
    "semlink.train.cli",
    "semlink.rd.cli",
    "semlink.zoo.cli",
    "semlink.figures",
    "semlink.results.report",
)


def build_parser() -> argparse.ArgumentParser:
    from semlink import __version__

    parser = argparse.ArgumentParser(
        prog="semlink",
        description="End-to-end link-level simulator for semantic and classical image/video transmission.",
    )
    parser.add_argument("--version", action="version", version=f"semlink {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from semlink.errors import ConfigError

    try:
        return int(args.func(args) or 0)
    except ConfigError as e:  # what the user can fix: one clear line; anything else keeps its traceback
        print(f"semlink {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"semlink {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
