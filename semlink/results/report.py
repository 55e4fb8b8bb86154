"""``semlink report``: the numbers of a document written from the result tables, never typed in.

A report is a markdown table made from a results folder (or CSV):

* ``--by codec,snr_db --metric psnr``: mean and 95 % interval per group (:func:`summarize`);
* ``--paired A,B``: the paired difference ``A - B`` per ``--by`` group with its 95 % interval and
  whether it excludes zero — a document may say "above" or "below" only where it does;
* ``--where snr_db>=24``: rows kept before summarising (``col==v``, ``col>=v``, ``col<=v``,
  ``col!=v``; several, comma-separated);
* ``--columns codec``: a wide table (a column per codec, a row per ``--by`` group) of one metric;
  ``--count outage`` adds how many rows of a cell were outages;
* ``--unit item``: values averaged per item first, intervals over items (where the rows of an
  item are not independent draws, e.g. at an error-free plateau).

A document embeds reports between markers (result paths relative to the repository root, the
nearest folder above the document with a ``pyproject.toml`` or ``.git``)::

    <!-- report: results/quick --by codec --metric psnr,bpp --where snr_db>=24 -->
    | codec | psnr | ... |
    <!-- /report -->

``semlink report --update README.md`` rewrites every such block from the committed tables, and
the test suite checks that every block of the repository's documents equals what the command
writes (:func:`check_document`), so a document cannot drift from its data.
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
from pathlib import Path
from typing import Sequence

import pandas as pd

from semlink.errors import ConfigError

BLOCK = re.compile(r"(<!-- report: (?P<args>.*?) -->\n)(?P<body>.*?)(<!-- /report -->)", re.S)
_OPS = ("==", "!=", ">=", "<=", ">", "<")


def _filter(df: pd.DataFrame, where: str) -> pd.DataFrame:
    for cond in [c.strip() for c in where.split(",") if c.strip()]:
        for op in _OPS:
            if op in cond:
                col, val = (x.strip() for x in cond.split(op, 1))
                break
        else:
            raise ConfigError(f"--where {cond!r}: expected COLUMN{'|'.join(_OPS)}VALUE")
        if col not in df.columns:
            raise ConfigError(f"--where {cond!r}: no column {col!r}", allowed=sorted(df.columns))
        try:
            v: object = float(val)
        except ValueError:
            v = val
        s = df[col]
        df = df[{"==": s == v, "!=": s != v, ">=": s >= v, "<=": s <= v, ">": s > v, "<": s < v}[op]]
    return df


def _fmt(v, digits: int) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.{digits}f}"
    return str(v)


def _key(v) -> str:
    """A grouping value as it was given (24 dB, 2.5 dB; not 24.000)."""
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:g}"
    return _fmt(v, 3)


def _table(header: Sequence[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def report(path: str | Path, *, by: Sequence[str] = ("codec",), metrics: Sequence[str] = ("psnr",),
           paired_with: tuple[str, str] | None = None, where: str = "", digits: int = 3, level: float = 0.95,
           unit: str | None = None, columns: str | None = None, count: str | None = None) -> str:
    """The markdown table of a results folder (see the module docstring).

    ``columns`` (e.g. "codec"): a wide table, one column per value of that column (table order) and
    a row per ``by`` group, each cell "mean ± half-width" of the one metric. ``count`` (a boolean
    column, e.g. "outage"): cells also say how many of their rows have it true.
    """
    from . import load, paired, summarize

    df = _filter(load(path), where)
    if df.empty:
        raise ConfigError(f"{path}: no row left after --where {where!r}")
    by = list(by)
    df = _hashable(df, [*by, *([columns] if columns else [])])
    units = [u for u in unit.split(",") if u] if unit else None
    if paired_with is not None:
        a, b = paired_with
        header = [*by, "metric", f"{a} - {b}", f"{int(level * 100)} % interval", "pairs",
                  *(["units"] if unit else []), "excludes 0"]
        rows = []
        for m in metrics:
            t = paired(df, a, b, m, by=by, level=level, unit=units)
            for _, r in t.iterrows():
                rows.append([_key(r[c]) for c in by] + [m, _fmt(r["mean"], digits),
                            f"[{_fmt(r['ci_low'], digits)}, {_fmt(r['ci_high'], digits)}]", str(int(r["n_pairs"])),
                            *([str(int(r["n"]))] if unit else []),
                            "yes" if bool(r["excludes_zero"]) else "no"])
        return _table(header, rows)
    if count is not None and count not in df.columns:
        raise ConfigError(f"--count {count!r}: no such column", allowed=sorted(df.columns))
    if columns is not None:
        return _wide(df, by, metrics, columns, count, digits, level, units)
    tables = {m: summarize(df, by, m, level=level, unit=units) for m in metrics}
    first = tables[metrics[0]]
    header = [*by] + [f"{m} (mean ± {int(level * 100)} %)" for m in metrics] + [unit + "s" if unit else "n"]
    rows = []
    for i in range(len(first)):
        key = [first.iloc[i][c] for c in by]
        cells = [_key(k) for k in key]
        for m in metrics:
            r = tables[m].iloc[i]
            hw = r["half_width"]
            cells.append(_fmt(r["mean"], digits) + ("" if not isinstance(hw, float) or math.isnan(hw)
                                                     else f" ± {_fmt(hw, digits)}"))
        cells.append(str(int(first.iloc[i]["n"])))
        rows.append(cells)
    return _table(header, rows)


def _cell(r, digits: int) -> str:
    hw = r["half_width"]
    return _fmt(r["mean"], digits) + ("" if not isinstance(hw, float) or math.isnan(hw) else f" ± {_fmt(hw, digits)}")


def _wide(df: pd.DataFrame, by: list[str], metrics: Sequence[str], columns: str, count: str | None, digits: int,
          level: float, units) -> str:
    from . import summarize

    if len(metrics) != 1:
        raise ConfigError(f"--columns {columns}: give one --metric (got {', '.join(metrics)})")
    if columns not in df.columns:
        raise ConfigError(f"--columns {columns!r}: no such column", allowed=sorted(df.columns))
    metric = metrics[0]
    by = [c for c in by if c != columns]
    if not by:
        raise ConfigError(f"--columns {columns}: give --by columns for the rows (e.g. snr_db)")
    heads = list(dict.fromkeys(df[columns].astype(str)))
    t = summarize(df.assign(**{columns: df[columns].astype(str)}), [*by, columns], metric, level=level, unit=units)
    flags = (df.assign(**{columns: df[columns].astype(str), "_f": df[count].astype(bool)})
             .groupby([*by, columns], dropna=False)["_f"].sum() if count else None)
    rows = []
    for key, g in t.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        cells = [_key(k) for k in key]
        for h in heads:
            r = g[g[columns] == h]
            if r.empty:
                cells.append("")
                continue
            cell = _cell(r.iloc[0], digits)
            k = int(flags.get((*key, h), 0)) if flags is not None else 0
            cells.append(cell + (f" ({k} of {int(r.iloc[0]['n'] + r.iloc[0]['n_inf'])} {count})" if k else ""))
        rows.append(cells)
    n = t["n"]
    note = f"{metric}, mean ± {int(level * 100)} % over {int(n.min())}" + (f"-{int(n.max())}" if n.max() != n.min() else "") \
        + (f" {units[0]}s" if units else " rows") + " per cell"
    return f"{note}\n\n" + _table([*by, *heads], rows)


def _add_table_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--by", default="codec", help="grouping columns, comma-separated (e.g. codec,snr_db)")
    p.add_argument("--metric", default="psnr", help="metric column(s), comma-separated")
    p.add_argument("--paired", default=None, metavar="A,B", help="paired differences A - B on the same items/trials")
    p.add_argument("--where", default="", help="row filters, e.g. snr_db>=24,channel==awgn")
    p.add_argument("--digits", type=int, default=3, help="decimals")
    p.add_argument("--columns", default=None, help="a wide table: one column per value of this column (e.g. codec)")
    p.add_argument("--count", default=None, help="a boolean column (e.g. outage) whose true rows each cell counts")
    p.add_argument("--unit", default=None, help="the independent unit, e.g. item: values averaged per unit first, "
                                                "intervals over units (default: every row)")


def _parser() -> argparse.ArgumentParser:
    """The parser of a document block's arguments (the same options as the command)."""
    p = argparse.ArgumentParser(prog="semlink report", add_help=False)
    p.add_argument("results")
    _add_table_args(p)
    return p


def _from_args(a: argparse.Namespace, root: Path = Path(".")) -> str:
    res = Path(a.results)
    return report(res if res.is_absolute() else root / res, by=[c for c in a.by.split(",") if c],
                  metrics=[m for m in a.metric.split(",") if m],
                  paired_with=tuple(a.paired.split(",", 1)) if a.paired else None, where=a.where, digits=a.digits,
                  unit=a.unit, columns=a.columns, count=a.count)


def render_document(text: str, root: Path = Path(".")) -> str:
    """``text`` with every report block rewritten from its results (paths relative to ``root``)."""

    def sub(m: re.Match) -> str:
        try:
            args = _parser().parse_args(shlex.split(m.group("args")))
        except SystemExit:
            raise ConfigError(f"report block with unreadable arguments: {m.group('args')!r}") from None
        return m.group(1) + _from_args(args, root) + m.group(4)

    return BLOCK.sub(sub, text)


def _flat(v, prefix: str = "") -> list[str]:
    if isinstance(v, dict):
        return [x for k, w in sorted(v.items()) for x in _flat(w, f"{prefix}{k}.")] if v else [f"{prefix[:-1]}=none"] if prefix else []
    if isinstance(v, list):
        return [f"{prefix[:-1]}={'/'.join(map(str, v))}"]
    return [f"{prefix[:-1]}={v}"]


def _hashable(df, cols: list[str]):
    """JSON columns (dicts, lists: e.g. ``protect``) as short text that can group rows
    (``base.code=80211n-648-1/2 map.code=...``; an empty dict is ``none``); an unknown column
    is a ConfigError naming the columns."""
    for c in cols:
        if c not in df.columns:
            raise ConfigError(f"no column {c!r} to group by", allowed=sorted(df.columns))
        if df[c].map(lambda v: isinstance(v, (dict, list))).any():
            df = df.assign(**{c: df[c].map(lambda v: (" ".join(_flat(v)) or "none") if isinstance(v, (dict, list)) else v)})
    return df


def document_root(doc: str | Path) -> Path:
    """The folder a document's block paths are relative to: the nearest folder above it that holds
    a ``pyproject.toml`` or ``.git`` (the repository root), else the document's own folder."""
    doc = Path(doc).resolve()
    for folder in doc.parents:
        if (folder / "pyproject.toml").is_file() or (folder / ".git").exists():
            return folder
    return doc.parent


def check_document(path: str | Path, root: Path | None = None) -> list[str]:
    """The report blocks of a document whose tables differ from what their results give (their
    arguments); block paths are relative to ``root`` (default: :func:`document_root`)."""
    path = Path(path)
    root = root or document_root(path)
    text = path.read_text()
    fresh = render_document(text, root)
    old_blocks = {m.group("args"): m.group("body") for m in BLOCK.finditer(text)}
    new_blocks = {m.group("args"): m.group("body") for m in BLOCK.finditer(fresh)}
    return [k for k in old_blocks if old_blocks[k] != new_blocks.get(k)]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser("report", help="markdown tables (means with intervals, paired differences) from results",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="?", help="a results folder or CSV")
    _add_table_args(p)
    p.add_argument("--update", default=None, metavar="DOC.md",
                   help="rewrite every <!-- report: ... --> block of DOC.md from its results")
    p.set_defaults(func=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    if args.update:
        doc = Path(args.update)
        text = doc.read_text()
        new = render_document(text, document_root(doc))
        if new != text:
            doc.write_text(new)
        print(f"{doc}: {len(BLOCK.findall(text))} report block(s) {'updated' if new != text else 'unchanged'}")
        return 0
    if not args.results:
        raise ConfigError("give a results folder (or --update DOC.md)")
    print(_from_args(args), end="")
    return 0
