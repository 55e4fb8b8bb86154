"""Tables of rows (dicts) as CSV files, written atomically.

:func:`write_csv` is the one CSV writer of the package (``semlink rd``, ``semlink ber`` and the
sweep's results store): the table goes to a temporary file beside ``path``, is flushed to disk
and then renamed over ``path`` (``os.replace``), so that a reader never sees a half-written
table and a crash leaves the previous one in place.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["write_csv", "json_default"]


def write_csv(path: str | Path, rows: Iterable[dict], columns: Sequence[str] | None = None,
              *, float_format: str | None = None) -> Path:
    """Write ``rows`` to the CSV file ``path`` atomically (temporary file + ``os.replace``).

    Args:
        path: the CSV file; its folder is created if needed.
        rows: dicts, one per line.
        columns: the header, in order; keys of a row not in it are left out, columns a row
            lacks are left empty. Default: every key of the rows, in first-seen order.
        float_format: format spec of Python floats (e.g. ``".6g"``); default ``str``.

    Cells: ``None`` -> empty, dicts and lists -> JSON, anything else as :mod:`csv` writes it.
    Returns ``path`` (a :class:`~pathlib.Path`).
    """
    path = Path(path)
    rows = list(rows)
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: _cell(v, float_format) for k, v in r.items()})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _cell(v, float_format: str | None):
    if v is None:
        return ""
    if isinstance(v, float) and float_format is not None:
        return format(v, float_format)
    if isinstance(v, (dict, list)):
        return json.dumps(v, default=json_default)
    return v


def json_default(o):
    """``json.dumps(default=...)`` for numpy scalars and arrays (anything else: ``str``)."""
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
