"""SNR sweeps: specs (TOML), execution (local processes or Dask), result store, plots.

>>> from semlink.sweep import load_spec, run_sweep
>>> rows = run_sweep(load_spec("experiments/quick.toml"), workers=2)
"""

from semlink.sweep.runner import run_sweep, run_task
from semlink.sweep.spec import SweepSpec, load_spec, parse_spec
from semlink.sweep.store import ResultStore, read_table

__all__ = ["ResultStore", "SweepSpec", "load_spec", "parse_spec", "read_table", "run_sweep", "run_task"]
