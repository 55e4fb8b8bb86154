"""Reading result tables: :func:`load` (a typed DataFrame), :func:`frame` (the same from rows in
memory) and :func:`records` (rows as plain dicts)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from semlink.errors import ConfigError

from .schema import BY_NAME, parse_rate

#: JSON columns expanded into one column per key by default (``bits_by_part.header`` ...).
EXPAND = ("bits_by_part", "symbols_by_part", "encode_info", "channel_state")
#: Files :func:`load` looks for in a folder, in order.
TABLES = ("results.csv", "rd.csv", "rows.jsonl")


def load(path: str | Path | Sequence[str | Path], *, expand: Iterable[str] = EXPAND) -> pd.DataFrame:
    """Read a result table into a DataFrame with the dtypes of :mod:`semlink.results.schema`.

    Args:
        path: a folder (its ``results.csv``, else ``rd.csv``, else ``rows.jsonl``), a CSV file
            (``results.csv``, ``rd.csv`` or any table of these columns), a ``rows.jsonl``
            journal, or a list of these (concatenated; ``source`` tells them apart).
        expand: JSON columns to expand into one float/object column per key, named
            ``COLUMN.KEY`` (e.g. ``bits_by_part.header``, ``encode_info.rho``); the JSON column
            itself is kept, parsed (dicts). ``()`` expands nothing.

    Returns:
        The table: identifiers stay strings (an item named "0001" stays "0001"), numbers are
        float64 (``inf``/``nan`` kept) or nullable integers, flags nullable booleans, JSON
        cells dicts; plus the derived ``rate_key`` / ``rate_value`` (parsed once from ``rate``,
        or rd's ``param`` / ``value``) and ``source`` (the file). ``df.attrs["table"]`` is
        "sweep", "rd" or "other".

    Raises:
        ConfigError: the path does not exist or holds no result table.
    """
    if isinstance(path, (list, tuple)):
        if not path:
            raise ConfigError("no results given")
        frames = [load(p, expand=expand) for p in path]
        df = pd.concat(frames, ignore_index=True)
        df.attrs["table"] = frames[0].attrs.get("table", "other")
        return df
    file = _table_file(Path(path))
    if file.suffix == ".jsonl":
        from semlink.sweep.store import ResultStore

        rows = ResultStore(file.parent).load() if file.name == "rows.jsonl" else _read_jsonl(file)
        df = frame(rows, expand=expand)
    else:
        raw = pd.read_csv(file, dtype=str, keep_default_na=False, na_filter=False)
        df = _typed(raw, expand=tuple(expand))
    df["source"] = str(file)
    return df


def frame(rows: Iterable[dict], *, expand: Iterable[str] = EXPAND) -> pd.DataFrame:
    """A DataFrame of rows in memory (a sweep's journal rows, :func:`semlink.evaluate.evaluate`
    rows) with exactly the dtypes :func:`load` gives the same rows read back from their CSV."""
    rows = list(rows)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    text = pd.DataFrame([{k: _text(r.get(k)) for k in cols} for r in rows], columns=cols, dtype=object)
    return _typed(text.astype(str) if len(text) else text, expand=tuple(expand))


def records(df_or_path, *, expand: Iterable[str] = ()) -> list[dict]:
    """Rows as plain Python dicts (``str``, ``int``, ``float``, ``bool``, dicts; ``None`` for a
    missing integer or flag), e.g. for code that iterates over rows."""
    df = df_or_path if isinstance(df_or_path, pd.DataFrame) else load(df_or_path, expand=expand)
    df = df.drop(columns=[c for c in ("source",) if c in df.columns])
    out = []
    cols = list(df.columns)
    for values in df.itertuples(index=False, name=None):
        out.append({c: _py(v) for c, v in zip(cols, values)})
    return out


# ----------------------------------------------------------------------------- internals
def _table_file(path: Path) -> Path:
    if path.is_dir():
        for name in TABLES:
            if (path / name).is_file():
                return path / name
        raise ConfigError(f"no result table in {str(path)!r} (looked for {', '.join(TABLES)})")
    if not path.is_file():
        raise ConfigError(f"results file {str(path)!r} does not exist")
    return path


def _read_jsonl(file: Path) -> list[dict]:
    rows = []
    for line in file.read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def _text(v) -> str:
    """A cell as :func:`semlink.tables.write_csv` writes it (so that frame() == load() of the CSV)."""
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        from semlink.tables import json_default

        return json.dumps(v, default=json_default)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    return str(v)


def _typed(raw: pd.DataFrame, expand: tuple[str, ...]) -> pd.DataFrame:
    """Cast a table of strings column by column to the declared dtypes."""
    out = {}
    for name in raw.columns:
        s = raw[name]
        col = BY_NAME.get(name)
        dtype = col.dtype if col is not None else _infer(s)
        out[name] = _cast(s, dtype, name)
    df = pd.DataFrame(out, index=raw.index)
    table = "rd" if {"param", "psnr_db"} <= set(df.columns) else ("sweep" if "snr_db" in df.columns else "other")
    # derived: rate_key / rate_value
    if "rate" in df.columns and "rate_key" not in df.columns:
        parsed = [parse_rate(v) for v in df["rate"].fillna("")]
        df["rate_key"] = pd.array([k for k, _ in parsed], dtype="string")
        df["rate_value"] = np.array([v for _, v in parsed], dtype=float)
    elif {"param", "value"} <= set(df.columns) and "rate_key" not in df.columns:
        df["rate_key"] = df["param"]
        df["rate_value"] = df["value"].astype(float)
    for name in expand:
        if name in df.columns:
            df = _expand(df, name)
    df.attrs["table"] = table
    return df


def _infer(s: pd.Series) -> str:
    """dtype of an undeclared column: float64 when every non-empty cell is a number, else string."""
    vals = [v for v in s if v != ""]
    if not vals:
        return "string"
    if all(v in ("True", "False") for v in vals):
        return "boolean"
    try:
        [float(v) for v in vals]
    except ValueError:
        return "string"
    return "float64"


def _cast(s: pd.Series, dtype: str, name: str) -> pd.Series:
    if dtype == "string":
        return s.astype("string")
    if dtype == "float64":
        return pd.to_numeric(s.replace("", "nan"), errors="coerce").astype("float64")
    if dtype in ("Int64", "UInt64"):
        num = s.replace("", None)
        try:
            if dtype == "UInt64":  # 64-bit seeds: parse as Python ints (no float rounding)
                return pd.array([None if v is None else int(v) for v in num], dtype="UInt64")
            f = pd.to_numeric(num, errors="coerce")
            if (f.dropna() % 1 == 0).all():
                return f.astype("Int64")
        except (TypeError, ValueError):
            pass
        return pd.to_numeric(num, errors="coerce").astype("float64")  # not integral after all
    if dtype == "boolean":
        m = {"True": True, "False": False, "true": True, "false": False, "1": True, "0": False}
        return pd.array([m.get(v) for v in s], dtype="boolean")
    if dtype == "json":
        return pd.Series([_json(v, name) for v in s], index=s.index, dtype=object)
    raise ValueError(f"column {name}: unknown dtype {dtype!r}")


def _json(v: str, name: str):
    if v in ("", "None"):
        return None
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v  # not JSON after all: keep the text


def _expand(df: pd.DataFrame, name: str) -> pd.DataFrame:
    dicts = [d if isinstance(d, dict) else {} for d in df[name]]
    keys = list(dict.fromkeys(k for d in dicts for k in d))
    new = {}
    for k in keys:
        vals = [d.get(k) for d in dicts]
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in vals):
            new[f"{name}.{k}"] = np.array([np.nan if v is None else float(v) for v in vals], dtype=float)
        elif all(v is None or isinstance(v, bool) for v in vals):
            new[f"{name}.{k}"] = pd.array(vals, dtype="boolean")
        elif all(v is None or isinstance(v, str) for v in vals):
            new[f"{name}.{k}"] = pd.array(vals, dtype="string")
        else:
            new[f"{name}.{k}"] = pd.Series(vals, index=df.index, dtype=object)
    if not new:
        return df
    return pd.concat([df, pd.DataFrame(new, index=df.index)], axis=1)


def _py(v):
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v
