"""The sweep's standard plots, written as files: quality/BER vs SNR (mean and 95 % CI over items
and trials) and the rate breakdown (stacked bits per part), PNG and PDF side by side.

The drawing lives in :mod:`semlink.results.plots` (functions that take ``ax=``); this module
only turns rows (a sweep's journal rows, or a table) into a typed table and saves the figure.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from semlink.results import frame
from semlink.results import plots as P
from semlink.results.schema import LABELS as METRIC_LABELS  # noqa: F401 - the labels, for callers

LOG_METRICS = P.LOG_METRICS


def _table(rows) -> pd.DataFrame:
    return rows if isinstance(rows, pd.DataFrame) else frame(rows)


def plot_metric(rows, metric: str, out: Path) -> list[Path]:
    """Metric vs SNR, one line per (codec, rate, link) with its 95 % CI band. Returns the files written."""
    return P.save(P.plot_metric(_table(rows), metric), Path(out))


def plot_rate_breakdown(rows, out: Path) -> list[Path]:
    """Stacked bar chart of the mean transmitted bits per part, per codec and rate."""
    return P.save(P.plot_rate_breakdown(_table(rows)), Path(out))


def plot_mcs(rows, out: Path) -> list[Path]:
    """The MCS link adaptation chose at each SNR (information bits per resource element; 0 = outage)."""
    return P.save(P.plot_mcs(_table(rows)), Path(out))
