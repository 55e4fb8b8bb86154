"""Execute a :class:`~semlink.sweep.spec.SweepSpec`: one tidy row per
(item, codec, rate point, link config, SNR, trial).

The runner plans, schedules, caches and stores; the row itself is computed by
:func:`semlink.simulator.row.simulate`.

* A *task* is one transmission: one item with a per-image codec, or one whole image set with
  a set codec (its rows are written together). Per-image codecs on a set dataset run image by
  image, so set codecs and their baselines share one table.
* Encodings are made once per (items, codec, rate, channel state) in each worker and reused
  across link configurations, SNRs and trials; channel-adaptive codecs get a
  :class:`~semlink.codecs.ChannelState` and are cached per state.
* Links are built once per configuration per worker; their warm-up (covariance estimation,
  JIT compilation, a first transmission) is timed apart (``warmup_s``), never in ``link_s``.
* Every task draws its channel from its own generator, seeded from the spec seed and the
  task's key, so any row can be re-run alone and results do not depend on the worker count,
  the order or the backend.
* Finished rows go to the store's journal at once; a re-run skips the rows already there (a
  set interrupted halfway is re-run and only its missing rows are stored).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from semlink.phy.linkspec import LinkSpec
from semlink.sweep.context import WorkerContext
from semlink.sweep.spec import CodecPoint, SweepSpec, _freeze, item_groups
from semlink.sweep.store import ResultStore


@dataclass(frozen=True)
class RowTask:
    """Everything a worker needs to compute the rows of one transmission (picklable)."""

    key: str
    row_keys: tuple[str, ...]
    seed: int
    set_name: str
    items: tuple[str, ...]
    dataset: str
    dataset_options: tuple
    codec: CodecPoint
    link: LinkSpec
    snr_db: float
    trial: int
    metrics: tuple[str, ...]
    perceptual: str
    spec_hash: str
    plugins: tuple[str, ...] = ()
    codes_sets: bool = False
    #: folder of the sweep's shared encoding cache ("" = none)
    encodings_dir: str = ""
    #: link adaptation: the link actually used at this SNR (chosen MCS), its name ("outage": none fits)
    link_used: LinkSpec | None = None
    mcs: str = ""
    #: digest of the codec's fingerprint (semlink.sweep.fingerprint): part of the encoding cache key
    codec_fingerprint: str = ""


#: the copy of the spec file a sweep writes into its output folder
SPEC_COPY = "spec.toml"


def row_key(item: str, codec: CodecPoint, link: LinkSpec, snr_db: float, trial: int) -> str:
    return f"{item}|{codec.label}|{json.dumps(codec.options)}|{codec.rate_label}|{link.key}|{snr_db:g}|{trial}"


def row_seed(spec_seed: int, key: str) -> int:
    """64-bit seed of a task, from the spec seed and the task key (stable across runs and machines)."""
    h = hashlib.sha256(f"{spec_seed}:{key}".encode()).digest()
    return int.from_bytes(h[:8], "little")


def plan(spec: SweepSpec) -> list[RowTask]:
    """All tasks of the sweep, in table order (set/item, codec/rate point, link, SNR, trial).

    Every link serves the codecs it names (all by default); a codec's rate points depend on the
    link (a fixed point per listed rate, the best point within an ideal link's capacity, a target
    fitted to a PHY budget), and point j of every link is planned before point j + 1."""
    from semlink.codecs import codec_class
    from semlink.data import get_dataset

    ds = get_dataset(spec.dataset, **spec.dataset_options)
    groups = item_groups(spec, ds)
    opts = tuple(sorted((k, _freeze(v)) for k, v in spec.dataset_options.items()))  # hashable (worker caches)
    adapted = {(lp.key, snr): adapt_link(lp, snr) for lp in spec.links if lp.adapt_bler is not None for snr in spec.snr_db}
    tasks = []
    for set_name, members in groups:
        for entry in spec.codec_entries:
            joint = bool(getattr(codec_class(entry.codec), "codes_sets", False))
            units = [tuple(it.name for it in members)] if joint else [(it.name,) for it in members]
            served = [(lp, entry.points_for(lp)) for lp in spec.links if lp.applies_to(entry.label)]
            depth = max((len(points) for _, points in served), default=0)
            for j in range(depth):
                for names in units:
                    for link, points in served:
                        if j >= len(points):
                            continue
                        codec = points[j]
                        for snr in spec.snr_db:
                            for trial in range(spec.trials):
                                keys = tuple(row_key(n, codec, link, snr, trial) for n in names)
                                key = f"set:{set_name}|{keys[0].split('|', 1)[1]}" if joint else keys[0]
                                used, mcs = adapted.get((link.key, snr), (None, ""))
                                tasks.append(RowTask(key, keys, row_seed(spec.seed, key), set_name, names,
                                                     spec.dataset, opts, codec, link, float(snr), trial, spec.metrics,
                                                     spec.perceptual, spec.hash, spec.plugins, joint, "", used, mcs))
    return tasks


from semlink.phy.mcs import ADAPT_SNR_GRID  # noqa: E402  (the grid of the BLER tables; tests may replace it here)


def adapt_link(lp: LinkSpec, snr_db: float) -> tuple[LinkSpec, str]:
    """The link with the MCS chosen for ``snr_db`` and the MCS name ("outage": none meets the
    target; the lowest MCS is returned and the row records an outage)."""
    return lp.at_snr(snr_db, ADAPT_SNR_GRID)


def _encoder(task: RowTask, codec, items: list[tuple[str, np.ndarray]], ctx: WorkerContext):
    """``encode(rate, state) -> (coded, seconds spent now)`` with the worker's encoding cache and,
    for deterministic codecs, the sweep's on-disk cache shared by all workers (``encodings_dir``);
    a cached encoding costs the row 0 s."""

    def encode(rate: dict, state):
        k = (task.dataset, task.dataset_options, task.items, task.codec.codec, task.codec.options, task.codec_fingerprint,
             json.dumps(rate, sort_keys=True), json.dumps(state.as_dict() if state else None, sort_keys=True))
        cached = ctx.encodings.get_fresh(k)
        if cached is not None:
            return cached[0], 0.0  # cached: this row spent no time encoding
        shared = _shared_encoding_path(task, k) if getattr(codec, "deterministic", True) else None
        found = _read_encoding(shared) if shared is not None else None
        spent = 0.0
        if found is None:
            extra = {"channel_state": state} if state is not None else {}
            t0 = time.perf_counter()
            if codec.codes_sets:
                coded = codec.encode_set([x for _, x in items], **rate, **extra)
            else:
                coded = codec.encode(items[0][1], **rate, **extra)
            spent = time.perf_counter() - t0
            found = (coded, spent)
            if shared is not None:
                _write_encoding(shared, found)
        ctx.encodings.put(k, found)
        return found[0], spent

    return encode


def _shared_encoding_path(task: RowTask, k: tuple):
    if not task.encodings_dir:
        return None
    from pathlib import Path

    digest = hashlib.sha256(json.dumps(k, default=str).encode()).hexdigest()[:32]
    return Path(task.encodings_dir) / f"{digest}.pkl"


def _read_encoding(path):
    import pickle

    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None


def _write_encoding(path, value) -> None:
    """Atomic write (temporary file + rename): another worker never reads half a file."""
    import pickle
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache: going on without it is fine


def run_task(task: RowTask, ctx: WorkerContext | None = None, keep_reconstructions: bool = False) -> list[dict]:
    """Compute the rows of one task (the function workers run) with the worker's context
    (``keep_reconstructions``: each row also holds its decoded image, :func:`~semlink.sweep.replay.replay`)."""
    from semlink.plugins import load_plugins
    from semlink.simulator.row import simulate

    ctx = ctx if ctx is not None else WorkerContext.current()
    load_plugins(task.plugins)
    t0 = time.perf_counter()
    items = ctx.items(task.dataset, task.dataset_options, task.items)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    codec = ctx.codec(task.codec.codec, task.codec.options)
    metrics = [ctx.metric(m, task.perceptual) for m in task.metrics]
    transport, link_warmup = ctx.transport(task.link_used or task.link)
    if task.mcs == "outage":
        transport = transport.with_unavailable(f"outage: no MCS meets BLER <= {task.link.adapt_bler:g} "
                                               f"at {task.snr_db:g} dB")
    warmup_s = time.perf_counter() - t1
    rows = simulate(items, codec, transport, task.snr_db, np.random.default_rng(task.seed), rate=task.codec.policy,
                    encode=_encoder(task, codec, items, ctx), metrics=metrics, memo=ctx.metric_memo,
                    keep_reconstructions=keep_reconstructions)
    out = []
    for key, r in zip(task.row_keys, rows):
        out.append({
            "key": key, "item": r.pop("item"), "set": task.set_name, "codec": task.codec.label,
            "rate": r.pop("rate"), "rate_target": task.codec.rate_label, "link": task.link.label(),
            "link_id": task.link.key, "mode": task.link.mode, "snr_db": task.snr_db, "trial": task.trial, **r,
            "load_s": round(load_s / len(rows), 4), "warmup_s": round(warmup_s, 4), "link_warmup_s": round(link_warmup, 4),
            "seed": task.seed, "spec_hash": task.spec_hash, **(task.link_used or task.link).columns(),
            **({"mcs": task.mcs, "adapt_bler": task.link.adapt_bler} if task.mcs else {}), **_versions(),
        })
    return out


_VERSIONS: dict | None = None


def _versions() -> dict:
    global _VERSIONS
    if _VERSIONS is None:
        from importlib.metadata import PackageNotFoundError, version

        out = {}
        for pkg, col in (("semlink", "semlink_version"), ("sionna-no-rt", "sionna_version"),
                         ("torch", "torch_version"), ("numpy", "numpy_version"), ("compressai", "compressai_version")):
            try:
                out[col] = version(pkg)
            except PackageNotFoundError:
                out[col] = ""
        _VERSIONS = out
    return _VERSIONS


def _init_worker() -> None:
    """Worker set-up: one core each, and exit when the sweep process dies (no orphans)."""
    import threading

    import torch

    torch.set_num_threads(1)
    try:
        import numba

        numba.set_num_threads(1)
    except (ImportError, ValueError):
        pass
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def run_sweep(
    spec: SweepSpec,
    out_dir=None,
    workers: int = 1,
    fresh: bool = False,
    progress: bool = True,
    backend: str = "local",
    on_row: Callable[[dict], None] | None = None,
    scheduler: str | None = None,
) -> list[dict]:
    """Run (or resume) a sweep; returns all rows of the finished table.

    Args:
        workers: worker processes (1: in this process; with ``backend="dask"`` and no
            scheduler: the size of the local Dask cluster started for the sweep).
        fresh: drop stored rows first.
        backend: ``"local"`` (process pool) or ``"dask"`` (needs the ``dask[distributed]`` extra).
        scheduler: Dask scheduler address (``tcp://HOST:PORT``) of an existing cluster; default
            ``$DASK_SCHEDULER_ADDRESS``, else a client already connected in this process, else a
            local cluster of ``workers`` processes.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if backend not in ("local", "dask"):
        raise ValueError(f"backend={backend!r} is not allowed; choose 'local' or 'dask'")
    if scheduler is not None and backend != "dask":
        raise ValueError("a scheduler address needs backend='dask'")
    from semlink.sweep.fingerprint import check_or_write, digest, sweep_fingerprint

    store = ResultStore(out_dir or spec.out)
    if fresh:
        store.reset()
    fp = sweep_fingerprint(spec)
    check_or_write(store.dir, fp, has_rows=bool(store.done_keys()))  # a resume never mixes two runs
    copy = store.dir / SPEC_COPY
    if spec.path is not None and Path(spec.path).is_file() and Path(spec.path).resolve() != copy.resolve():
        shutil.copyfile(spec.path, copy)  # what made the rows (semlink.sweep.replay reads it)
    enc_dir = str(store.encodings_dir.resolve())
    codec_fp = {label: digest(f) for label, f in fp["codecs"].items()}
    tasks = [dataclasses.replace(t, encodings_dir=enc_dir, codec_fingerprint=codec_fp[t.codec.label]) for t in plan(spec)]
    order = [k for t in tasks for k in t.row_keys]
    done = store.done_keys()
    todo = [t for t in tasks if not all(k in done for k in t.row_keys)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(order), initial=len(done & set(order)), unit="row", dynamic_ncols=True, smoothing=0.1)
    journal = store.open_journal()
    last_table = time.monotonic()
    try:
        for rows in _execute(todo, workers, backend, scheduler):
            for row in rows:
                if row["key"] in done:
                    continue  # stored before an interruption (part of a set)
                store.append(journal, row)
                done.add(row["key"])
                if on_row:
                    on_row(row)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(f"{row['item']} {row['codec']} {row['snr_db']:g} dB")
            if time.monotonic() - last_table > 30:  # keep the table fresh during long sweeps
                store.write_table(store.load(), order)
                last_table = time.monotonic()
    finally:
        journal.close()
        if bar is not None:
            bar.close()
        pos = {k: i for i, k in enumerate(order)}
        rows = sorted((r for r in store.load() if r.get("key") in pos), key=lambda r: pos[r["key"]])
        store.write_table(rows, order)
    return rows


def _execute(tasks: list[RowTask], workers: int, backend: str, scheduler: str | None = None):
    """Yield the rows of each task (a list per task) as tasks finish."""
    if not tasks:
        return
    if backend == "dask":
        yield from _execute_dask(tasks, workers, scheduler)
        return
    if workers == 1:
        for t in tasks:
            yield run_task(t)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # tasks are grouped by encoding; hand out whole groups so each encoding is made once
    ctx = mp.get_context("spawn")  # fork is unsafe with torch/OpenMP threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
        futures = [pool.submit(_run_group, g) for g in _groups(tasks)]
        try:
            for f in as_completed(futures):
                yield from f.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _groups(tasks: list[RowTask], max_rows: int = 8) -> list[list[RowTask]]:
    """Consecutive tasks with the same encoding, in chunks of at most ``max_rows`` rows
    (small chunks: an interruption loses at most the chunks in flight)."""
    out: list[list[RowTask]] = []
    size = 0
    for t in tasks:
        g = (t.items, t.codec)
        if out and (out[-1][0].items, out[-1][0].codec) == g and size + len(t.row_keys) <= max_rows:
            out[-1].append(t)
            size += len(t.row_keys)
        else:
            out.append([t])
            size = len(t.row_keys)
    return out


def _run_group(tasks: list[RowTask]) -> list[list[dict]]:
    ctx = WorkerContext.current()
    with ctx.lock:  # a Dask worker with several threads: one row at a time (the context is not shared)
        return [run_task(t, ctx) for t in tasks]


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The Dask scheduler to use: ``scheduler``, else ``$DASK_SCHEDULER_ADDRESS`` (also read
    through Dask's own configuration), else None."""
    if scheduler:
        return scheduler
    env = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if env:
        return env
    try:
        import dask

        return dask.config.get("scheduler-address", None) or None
    except ImportError:
        return None


def _execute_dask(tasks: list[RowTask], workers: int, scheduler: str | None = None):
    try:
        from dask.distributed import Client, LocalCluster, as_completed, get_client
    except ImportError:
        raise ValueError("backend 'dask' needs dask.distributed: pip install 'semlink[cluster]'") from None
    address = scheduler_address(scheduler)
    cluster = None
    if address:
        try:
            client = Client(address, timeout=30)
        except OSError as e:
            raise ValueError(f"cannot reach the Dask scheduler at {address}: {e}") from None
        own_client = True
    else:
        try:
            client = get_client()  # a client the user already connected in this process
            own_client = False
        except ValueError:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
            own_client = True
    try:
        futures = client.map(_run_group, _groups(tasks), pure=False)
        for f in as_completed(futures):
            yield from f.result()
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()
