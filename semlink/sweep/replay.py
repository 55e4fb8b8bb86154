"""Replay rows of a finished sweep and get their reconstructions.

A sweep stores numbers, not images. Every row is a deterministic function of the spec and its
key (the row's generator is seeded from the spec's seed and the key), so any row can be computed
again, this time keeping the decoded image: the strips of reconstructions across SNR
(``semlink figure strip``) are made this way, and each replayed row is compared with the stored
one (``matches``), so a picture is known to show the row the table reports.

>>> from semlink.sweep.replay import replay
>>> for r in replay("results/quick", keys):            # keys: the table's "key" column
...     r.reconstruction, r.row["psnr"], r.matches
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semlink.errors import ConfigError

#: columns that must agree between a stored row and its replay (numbers within ABS_TOL: the
#: metrics of a replay on the same CPU agree to ~1e-6; the committed-table test allows 1e-3)
COMPARED = ("psnr", "bits", "packets_lost", "decoded_ok")
ABS_TOL = 1e-3


@dataclass
class Replayed:
    """One replayed row.

    Attributes:
        key: the row key.
        row: the replayed row (the sweep's columns).
        stored: the stored row of the same key (None when the table does not hold it).
        original: the sent image/clip, uint8 [H, W, 3] (or [T, H, W, 3]).
        reconstruction: the decoded image/clip, same shape and dtype.
        matches: the replay agrees with the stored row on :data:`COMPARED` (None without a
            stored row).
    """

    key: str
    row: dict
    stored: dict | None
    original: np.ndarray
    reconstruction: np.ndarray
    matches: bool | None


def _same(a, b) -> bool:
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        return bool(a) == bool(b)
    try:
        fa, fb = float(a), float(b)
    except (TypeError, ValueError):
        return a == b
    if math.isnan(fa) and math.isnan(fb):
        return True
    return fa == fb or math.isclose(fa, fb, rel_tol=0.0, abs_tol=ABS_TOL)


def replay(results: str | Path, keys: Iterable[str], spec: str | Path | None = None) -> list[Replayed]:
    """Compute the rows ``keys`` of the sweep in ``results`` again, keeping their reconstructions.

    Args:
        results: the sweep's output folder (its table and ``spec.toml``, the copy of the spec
            the sweep wrote).
        keys: row keys (the ``key`` column of the table).
        spec: the spec file, when the folder holds no ``spec.toml`` (sweeps before it was written).

    Returns:
        One :class:`Replayed` per key, in the order of ``keys``.

    Raises:
        ConfigError: no spec, or a key the spec does not plan.
    """
    from semlink.results import load
    from semlink.sweep.runner import SPEC_COPY, plan
    from semlink.sweep.spec import load_spec

    results = Path(results)
    spec_path = Path(spec) if spec is not None else results / SPEC_COPY
    if not spec_path.is_file():
        raise ConfigError(f"{spec_path}: no spec to replay {results} from",
                          hint="give the spec file the sweep ran (spec=..., -o spec=FILE.toml)")
    want = list(dict.fromkeys(keys))
    table = load(results)
    stored = {r["key"]: r for r in table.to_dict("records")} if "key" in table.columns else {}
    tasks = [t for t in plan(load_spec(spec_path)) if any(k in want for k in t.row_keys)]
    planned = {k for t in tasks for k in t.row_keys}
    missing = [k for k in want if k not in planned]
    if missing:
        raise ConfigError(f"{spec_path} does not plan row(s) {', '.join(missing[:3])}"
                          + (f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""),
                          hint="the spec must be the one that made the table")
    from semlink.sweep.context import WorkerContext

    ctx = WorkerContext()
    out: dict[str, Replayed] = {}
    with _one_thread():
        for task in tasks:
            _replay_task(task, ctx, want, stored, out)
    return [out[k] for k in want]


@contextmanager
def _one_thread():
    """Torch on one thread for the duration, as in a sweep worker (a convolution's float sums
    depend on the thread count, so a decoder run on two threads can differ from the table by
    ~1e-3 dB); the caller's thread count is restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _replay_task(task, ctx, want: list[str], stored: dict, out: dict) -> None:
    from semlink.sweep.runner import run_task

    items = dict(ctx.items(task.dataset, task.dataset_options, task.items))
    for row in run_task(task, ctx, keep_reconstructions=True):
        if row["key"] not in want:
            continue
        rec = row.pop("reconstruction")
        old = stored.get(row["key"])
        ok = None if old is None else all(_same(row.get(c), old.get(c)) for c in COMPARED if c in old)
        out[row["key"]] = Replayed(row["key"], row, old, items[row["item"]], rec, ok)
