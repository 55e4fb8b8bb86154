"""Paper figures, registered by name: ``semlink figure NAME [RESULTS ...]``.

Each seed system registers its figures in its own ``figures.py`` (read results only through
:mod:`semlink.results`); the registry imports a system's module on first use:

>>> from semlink.figures import FIGURES
>>> FIGURES.names()                                   # imports nothing
>>> FIGURES.get("seb-fig4").make([Path("results/seb-fig4")], Path("results/seb-fig4"))

A figure is a function ``make(inputs, out, **options) -> [files written]``: ``inputs`` are
result folders (or files), ``out`` the output folder. Figures that code images themselves
(reconstructions, RD curves without a channel) write the numbers they plot to a CSV beside the
figure and, when that CSV exists, plot from it without coding again (option ``recompute``,
``--recompute``: code again). Plug-in packages add figures through the ``semlink.figures`` entry-point group.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from semlink.errors import ConfigError
from semlink.registry import Registry


@dataclass(frozen=True)
class Figure:
    """A registered figure.

    Attributes:
        name: the registry name (``semlink figure NAME``).
        make: ``make(inputs: list[Path], out: Path, **options) -> list[Path]``.
        summary: one line for ``semlink figure --list``.
        inputs: default input folders, when none are given.
        out: default output folder (None: the first input).
        options: option name -> (default, help) accepted as ``-o KEY=VALUE``.
        codes: True when the figure runs codecs itself (it needs their models).
    """

    name: str
    make: Callable[..., list[Path]]
    summary: str = ""
    inputs: tuple[str, ...] = ()
    out: str | None = None
    options: dict[str, tuple[Any, str]] = field(default_factory=dict)
    codes: bool = False

    def __call__(self, inputs=None, out=None, **options) -> list[Path]:
        """Make the figure: ``inputs`` (default :attr:`inputs`), ``out`` (default :attr:`out`, else
        the first input folder); unknown options raise ConfigError."""
        ins = [Path(p) for p in (inputs or self.inputs)]
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ConfigError(f"figure {self.name}: unknown option(s) {', '.join(unknown)}", allowed=sorted(self.options))
        if out is None:
            if self.out is not None:
                out = self.out
            elif ins:
                out = ins[0] if ins[0].is_dir() or not ins[0].suffix else ins[0].parent
            else:
                raise ConfigError(f"figure {self.name}: give an output folder (--out)")
        opts = {k: v[0] for k, v in self.options.items()}
        opts.update(options)
        return list(self.make(ins, Path(out), **opts))


FIGURES: Registry[Figure] = Registry("figure", group="semlink.figures", builtins={
    "cliff": "semlink.sweep.figures",
    "strip": "semlink.sweep.figures",
    "seb-fig4": "semlink.semantic.seb.figures",
    "seb-fig5": "semlink.semantic.seb.figures",
    "seb-fig6": "semlink.semantic.seb.figures",
    "seb-rd": "semlink.semantic.seb.figures",
    "seb-split": "semlink.semantic.seb.figures",
    "seb-flow": "semlink.semantic.seb.flow_study",
    "gan-c2f-pd": "semlink.semantic.gan_c2f.figures",
    "gan-c2f-crops": "semlink.semantic.gan_c2f.figures",
    "gan-c2f-map": "semlink.semantic.gan_c2f.map_study",
    "vqdeepvsc-fig6-7": "semlink.semantic.vqdeepvsc.figures",
    "vqdeepvsc-ablations": "semlink.semantic.vqdeepvsc.figures",
})


def register_figure(name: str, *, summary: str = "", inputs: tuple[str, ...] = (), out: str | None = None,
                    options: dict[str, tuple[Any, str]] | None = None, codes: bool = False):
    """Decorator: register ``make(inputs, out, **options)`` as figure ``name``."""

    def deco(make: Callable[..., list[Path]]):
        FIGURES.register(name, Figure(name, make, summary or (make.__doc__ or "").strip().split("\n")[0],
                                      tuple(inputs), out, dict(options or {}), codes))
        return make

    return deco


def get_figure(name: str) -> Figure:
    """The figure registered as ``name`` (UnknownNameError lists the known ones)."""
    return FIGURES.get(name)


# ----------------------------------------------------------------------------- command line
def _option(text: str):
    from semlink.options import parse_key_value

    try:
        return parse_key_value(text, "figure option")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "figure", help="make a registered paper figure from result folders (semlink figure --list)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Make figure NAME from result folders (default: the figure's own folders under results/). "
        "Each seed system registers its figures; --list shows them with their inputs and options.",
    )
    p.add_argument("name", nargs="?", help="figure name")
    p.add_argument("results", nargs="*", type=Path, help="result folders or files the figure reads")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the figure's, else the first input)")
    p.add_argument("-o", "--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="figure option (see --list)")
    p.add_argument("--recompute", action="store_true",
                   help="figures that code images: code again even when their CSV exists")
    p.add_argument("--list", action="store_true", help="list the figures, their inputs and options")
    p.set_defaults(func=run)


def _codes(f: Figure) -> str:
    if not f.codes:
        return ""
    return "; codes images (needs the models)" + (" when its CSV is missing or with --recompute"
                                                  if "recompute" in f.options else "")


def run(args: argparse.Namespace) -> int:
    if args.list or not args.name:
        for name in FIGURES.names():
            f = FIGURES.get(name)
            opts = ", ".join(f"{k}={v[0]!r}" for k, v in f.options.items())
            print(f"{name:22s} {f.summary}")
            print(f"{'':22s} inputs: {' '.join(f.inputs) or '-'}; out: {f.out or 'first input'}"
                  f"{'; options: ' + opts if opts else ''}{_codes(f)}")
        return 0 if args.list else 2
    fig = get_figure(args.name)
    options = dict(args.option)
    if args.recompute:
        if "recompute" not in fig.options:
            raise ConfigError(f"figure {fig.name} codes nothing: --recompute does not apply")
        options["recompute"] = True
    for f in fig(args.results or None, args.out, **options):
        print(f"wrote {f}")
    return 0
