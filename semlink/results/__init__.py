"""Results as data: every reader of semlink's result tables goes through this package.

>>> from semlink import results
>>> df = results.load("results/quick")                       # typed DataFrame
>>> results.summarize(df, by=["codec", "snr_db"], metric="psnr")   # mean and 95 % CI
>>> results.paired(df, "hyperprior", "jpeg2000", "psnr")     # paired differences per SNR
>>> fig = results.plot_vs(df, "psnr", col="codec")           # one panel per codec

* :mod:`~semlink.results.schema`: the one declared row schema (every column of a sweep row, an
  ``rd`` row and an :func:`~semlink.evaluate.evaluate` row, with unit and dtype).
* :func:`load` / :func:`frame` / :func:`records`: tables from files or rows in memory.
* :func:`summarize` / :func:`paired` / :func:`mean_ci`: the one confidence-interval implementation;
  :func:`pick_examples`: a figure's items chosen by a stated rule (worst, median, best).
* :mod:`~semlink.results.plots`: plot functions that take ``ax=`` and return the figure.
* :mod:`~semlink.results.report`: ``semlink report``, markdown tables (means, paired differences)
  from result tables, and the document blocks the test suite keeps equal to their data.
"""

from .io import frame, load, records
from .plots import (facets, new_figure, plot_mcs, plot_metric, plot_rate_breakdown, plot_rd, plot_vs, rd_curve,
                    save, series_labels)
from .schema import COLUMNS, Column, columns, ms_ssim_db, ms_ssim_from_db, parse_rate
from .stats import mean_ci, paired, pick_examples, summarize

__all__ = [
    "COLUMNS", "Column", "columns", "facets", "frame", "load", "mean_ci", "ms_ssim_db", "ms_ssim_from_db", "new_figure",
    "paired", "parse_rate", "pick_examples", "plot_mcs", "plot_metric", "plot_rate_breakdown", "plot_rd", "plot_vs", "rd_curve",
    "records", "save", "series_labels", "summarize",
]
