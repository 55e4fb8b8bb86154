"""Results store of a sweep: an append-only journal plus an atomically rewritten CSV table.

``DIR/.encodings/``: encodings shared by the workers (deterministic codecs; deleted by ``--fresh``).
``DIR/rows.jsonl``: one JSON object per finished row, appended and flushed as soon as the row
is done. A crash or Ctrl-C loses at most the rows in flight; a torn last line is ignored.
``DIR/results.csv`` (and ``results.parquet`` when pyarrow is installed): the tidy table,
rewritten from the journal through a temporary file and an atomic rename, so a reader never
sees a half-written table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from semlink.tables import json_default, write_csv

#: Columns first in the CSV, in this order; any other column follows alphabetically.
LEADING = [
    "item", "set", "codec", "rate", "link", "mode", "channel", "modulation", "code", "estimator", "equalizer",
    "snr_db", "trial", "psnr", "ms_ssim", "lpips", "st_lpips", "bits", "shared_bits", "own_bits", "bpp", "cbr",
    "cbr_total", "bcr",
    "raw_ber", "ber", "bler", "packets", "packets_lost", "decoded_ok", "outage", "reason",
]


class ResultStore:
    """Journal + table in ``out_dir``."""

    def __init__(self, out_dir: str | Path):
        self.dir = Path(out_dir)
        self.journal = self.dir / "rows.jsonl"
        self.csv = self.dir / "results.csv"
        #: encodings shared by the sweep's workers (a cache: safe to delete)
        self.encodings_dir = self.dir / ".encodings"

    def reset(self) -> None:
        """Forget every stored row and cached encoding (``--fresh``)."""
        import shutil

        for p in (self.journal, self.csv, self.dir / "results.parquet"):
            if p.exists():
                p.unlink()
        shutil.rmtree(self.encodings_dir, ignore_errors=True)

    def load(self) -> list[dict]:
        """Rows of the journal (a torn last line, from a crash mid-write, is skipped)."""
        if not self.journal.exists():
            return []
        rows = []
        with open(self.journal) as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return rows

    def done_keys(self) -> set[str]:
        return {r["key"] for r in self.load() if "key" in r}

    def open_journal(self):
        """Append handle; each row is one line, flushed and fsynced by :meth:`append`."""
        self.dir.mkdir(parents=True, exist_ok=True)
        # cut a torn last line left by a crash so that the next row starts on a fresh line
        if self.journal.exists() and self.journal.stat().st_size:
            with open(self.journal, "rb+") as f:
                data = f.read()
                if not data.endswith(b"\n"):
                    f.truncate(data.rfind(b"\n") + 1)
        return open(self.journal, "a")

    @staticmethod
    def append(handle, row: dict) -> None:
        handle.write(json.dumps(row, default=json_default) + "\n")
        handle.flush()
        os.fsync(handle.fileno())

    def write_table(self, rows: Iterable[dict], order: list[str] | None = None) -> Path:
        """Rewrite results.csv atomically from ``rows`` (sorted by ``order`` of keys when given)."""
        rows = list(rows)
        if order is not None:
            pos = {k: i for i, k in enumerate(order)}
            rows.sort(key=lambda r: pos.get(r.get("key"), len(pos)))
        cols = [c for c in LEADING if any(c in r for r in rows)]
        cols += sorted({k for r in rows for k in r} - set(cols))
        write_csv(self.csv, rows, cols)
        self._write_parquet(rows, cols)
        return self.csv

    def _write_parquet(self, rows: list[dict], cols: list[str]) -> None:
        try:
            import pandas as pd
            import pyarrow  # noqa: F401
        except ImportError:
            return
        df = pd.DataFrame([{k: r.get(k) for k in cols} for r in rows], columns=cols)
        tmp = self.dir / "results.parquet.tmp"
        df.to_parquet(tmp, index=False)
        tmp.replace(self.dir / "results.parquet")


def read_table(path: str | Path) -> list[dict]:
    """A results.csv (or the folder holding it) as rows: typed by the declared schema
    (:func:`semlink.results.records`; JSON columns parsed, item names kept as strings).
    New code should use :func:`semlink.results.load` (a DataFrame)."""
    from semlink.results import records

    return records(path)
