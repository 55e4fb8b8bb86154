"""Execute a :class:`~semlink.sweep.spec.SweepSpec`: one tidy row per
(item, codec, rate point, link config, SNR, trial).

* Encodings are made once per (item, codec, rate) in each worker process and reused across link
  configurations, SNRs and trials (codecs with ``channel_adaptive = True`` are encoded per SNR,
  receiving ``channel_state={"snr_db": ...}``).
* Every row draws its channel from its own generator, seeded from the spec seed and the row's
  key, so any row can be re-run alone and results do not depend on the worker count or order.
* Finished rows go to the store's journal at once; a re-run skips the rows already there.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from semlink.sweep.spec import CodecPoint, LinkPoint, SweepSpec
from semlink.sweep.store import ResultStore


@dataclass(frozen=True)
class RowTask:
    """Everything a worker needs to compute one row (picklable)."""

    key: str
    seed: int
    item: str
    dataset: str
    dataset_options: tuple
    codec: CodecPoint
    link: LinkPoint
    snr_db: float
    trial: int
    metrics: tuple[str, ...]
    perceptual: str
    spec_hash: str


def row_key(item: str, codec: CodecPoint, link: LinkPoint, snr_db: float, trial: int) -> str:
    return f"{item}|{codec.label}|{json.dumps(codec.options)}|{codec.rate_label}|{link.key}|{snr_db:g}|{trial}"


def row_seed(spec_seed: int, key: str) -> int:
    """64-bit seed of a row, from the spec seed and the row key (stable across runs and machines)."""
    h = hashlib.sha256(f"{spec_seed}:{key}".encode()).digest()
    return int.from_bytes(h[:8], "little")


def plan(spec: SweepSpec) -> list[RowTask]:
    """All rows of the sweep, in table order (item, codec/rate, link, SNR, trial)."""
    from semlink.data import get_dataset

    ds = get_dataset(spec.dataset, **spec.dataset_options)
    names = [it.name for it in ds]
    if spec.items is not None:
        missing = sorted(set(spec.items) - set(names))
        if missing:
            raise ValueError(f"dataset.items: {missing} not in dataset {spec.dataset!r} (has: {', '.join(names)})")
        names = [n for n in names if n in spec.items]
    if spec.max_items is not None:
        names = names[: spec.max_items]
    opts = tuple(sorted(spec.dataset_options.items()))
    tasks = []
    for item in names:
        for codec in spec.codecs:
            for link in spec.links:
                for snr in spec.snr_db:
                    for trial in range(spec.trials):
                        key = row_key(item, codec, link, snr, trial)
                        tasks.append(RowTask(key, row_seed(spec.seed, key), item, spec.dataset, opts, codec, link,
                                             float(snr), trial, spec.metrics, spec.perceptual, spec.hash))
    return tasks


# ---------------------------------------------------------------------- worker-side caches
_DATASETS: dict = {}
_CODECS: dict = {}
_LINKS: dict = {}
_ENCODINGS: "OrderedDict[tuple, Any]" = OrderedDict()
_ENCODING_CACHE_SIZE = 16


def _item(task: RowTask) -> np.ndarray:
    from semlink.data import get_dataset

    k = (task.dataset, task.dataset_options)
    if k not in _DATASETS:
        _DATASETS[k] = {it.name: it for it in get_dataset(task.dataset, **dict(task.dataset_options))}
    return _DATASETS[k][task.item].data


def _codec(cp: CodecPoint):
    from semlink.codecs import get_codec

    k = (cp.codec, cp.options)
    if k not in _CODECS:
        _CODECS[k] = get_codec(cp.codec, **dict(cp.options))
    return _CODECS[k]


def _link(lp: LinkPoint):
    from semlink.phy import IdealLink, Link

    if lp.key not in _LINKS:
        _LINKS[lp.key] = IdealLink(lp.cbr, lp.fading) if lp.mode == "ideal" else Link(lp.config)
    return _LINKS[lp.key]


def _encode(task: RowTask, rate: dict, channel_state: dict | None):
    codec = _codec(task.codec)
    k = (task.dataset, task.dataset_options, task.item, task.codec.codec, task.codec.options,
         json.dumps(rate, sort_keys=True), json.dumps(channel_state, sort_keys=True))
    if k in _ENCODINGS:
        _ENCODINGS.move_to_end(k)
        return _ENCODINGS[k]
    item = _item(task)
    t0 = time.perf_counter()
    enc = codec.encode(item, **rate, **({"channel_state": channel_state} if channel_state else {}))
    _ENCODINGS[k] = (enc, time.perf_counter() - t0)
    while len(_ENCODINGS) > _ENCODING_CACHE_SIZE:
        _ENCODINGS.popitem(last=False)
    return _ENCODINGS[k]


def run_row(task: RowTask) -> dict:
    """Compute one result row (the function workers run)."""
    from semlink.phy.ideal import capacity_awgn
    from semlink.simulator import metrics as M
    from semlink.simulator.transmission import quality_metrics, safe_decode, transmit_ideal, transmit_phy

    t0 = time.perf_counter()
    item = _item(task)
    codec = _codec(task.codec)
    link = _link(task.link)
    rng = np.random.default_rng(task.seed)
    state = {"snr_db": task.snr_db} if getattr(codec, "channel_adaptive", False) else None
    n_src = int(np.prod(item.shape))  # source symbols (H W 3, or T H W 3)
    if task.link.mode == "ideal":
        key, values = task.codec.candidates
        encs = [(_encode(task, {key: v}, state), v) for v in values]
        budget = link.channel_uses(n_src) * capacity_awgn(task.snr_db)
        fitting = [(e, v) for e, v in encs if e[0].num_bits <= budget]
        (enc, enc_s), value = (max(fitting, key=lambda ev: ev[0][0].num_bits) if fitting
                               else min(encs, key=lambda ev: ev[0][0].num_bits))
        received, stats = transmit_ideal(enc, link, task.snr_db, rng, n_src)
        if not fitting:
            stats.outage = True
        rate_label = f"{key}={value:g}"
    else:
        enc, enc_s = _encode(task, task.codec.rate_kwargs(), state)
        received, stats = transmit_phy(enc, link, task.snr_db, rng)
        rate_label = task.codec.rate_label
    t1 = time.perf_counter()
    rec = safe_decode(codec, received)
    t2 = time.perf_counter()
    perceptual = M.perceptual_metric(task.perceptual) if "perceptual" in task.metrics else None
    q = quality_metrics(item, rec.data, task.metrics, perceptual)
    if stats.outage:
        rec_ok, reason = False, "outage: rate above capacity" if not rec.reason else f"outage; {rec.reason}"
    else:
        rec_ok, reason = rec.decoded_ok, rec.reason
    h, w = item.shape[-3], item.shape[-2]
    frames = item.shape[0] if item.ndim == 4 else 1
    row = {
        "key": task.key, "item": task.item, "codec": task.codec.label, "rate": rate_label,
        "rate_target": task.codec.rate_label, "link": task.link.label(), "link_id": task.link.key,
        "mode": task.link.mode, "snr_db": task.snr_db, "trial": task.trial, **q,
        "bits": enc.num_bits, "bits_by_part": enc.bits_per_part(),
        "bpp": enc.num_bits / (h * w * frames),
        "cbr": stats.data_symbols / n_src, "cbr_total": stats.total_symbols / n_src,
        "bcr": M.bcr(enc.num_bits, item.shape if item.ndim == 4 else (1, *item.shape)),
        **stats.rates(), "packets": stats.packets, "packets_lost": stats.packets_lost,
        "decoded_ok": bool(rec_ok), "outage": bool(stats.outage), "reason": reason,
        "encode_info": enc.info, "encode_s": round(enc_s, 4), "link_s": round(t1 - t0, 4), "decode_s": round(t2 - t1, 4),
        "metrics_s": round(time.perf_counter() - t2, 4),
        "wall_s": round(time.perf_counter() - t0, 4), "seed": task.seed, "spec_hash": task.spec_hash,
        "perceptual_metric": perceptual.name if perceptual else "",
        **_link_columns(task.link), **_versions(),
    }
    return row


def _link_columns(lp: LinkPoint) -> dict:
    if lp.mode == "ideal":
        return {"channel": lp.fading, "modulation": "ideal", "code": "capacity-achieving", "estimator": "",
                "equalizer": "", "cbr_budget": lp.cbr}
    c = lp.config
    return {"channel": c.channel, "modulation": c.modulation, "code": c.code, "estimator": c.estimator,
            "equalizer": c.equalizer, "domain": c.domain, "decoder": c.decoder,
            "channel_params": json.dumps(c.channel_params, sort_keys=True)}


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
) -> list[dict]:
    """Run (or resume) a sweep; returns all rows of the finished table.

    Args:
        workers: worker processes (1: in this process).
        fresh: drop stored rows first.
        backend: ``"local"`` (process pool) or ``"dask"`` (an existing ``dask.distributed`` client /
            local cluster; needs the ``dask[distributed]`` extra).
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if backend not in ("local", "dask"):
        raise ValueError(f"backend={backend!r} is not allowed; choose 'local' or 'dask'")
    store = ResultStore(out_dir or spec.out)
    if fresh:
        store.reset()
    tasks = plan(spec)
    order = [t.key for t in tasks]
    done = store.done_keys()
    todo = [t for t in tasks if t.key not in done]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="row", dynamic_ncols=True, smoothing=0.1)
    journal = store.open_journal()
    last_table = time.monotonic()
    try:
        for row in _execute(todo, workers, backend):
            store.append(journal, row)
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


def _execute(tasks: list[RowTask], workers: int, backend: str):
    if not tasks:
        return
    if backend == "dask":
        yield from _execute_dask(tasks, workers)
        return
    if workers == 1:
        for t in tasks:
            yield run_row(t)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # tasks are grouped by (item, codec, rate); hand out whole groups so each encoding is made once
    ctx = mp.get_context("spawn")  # fork is unsafe with torch/OpenMP threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
        futures = [pool.submit(_run_group, g) for g in _groups(tasks)]
        try:
            from concurrent.futures import as_completed

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
    for t in tasks:
        g = (t.item, t.codec)
        if out and (out[-1][0].item, out[-1][0].codec) == g and len(out[-1]) < max_rows:
            out[-1].append(t)
        else:
            out.append([t])
    return out


def _run_group(tasks: list[RowTask]) -> list[dict]:
    return [run_row(t) for t in tasks]


def _execute_dask(tasks: list[RowTask], workers: int):
    try:
        from dask.distributed import Client, LocalCluster, as_completed, get_client
    except ImportError:
        raise ValueError("backend 'dask' needs dask.distributed: pip install 'semlink[cluster]'") from None
    try:
        client = get_client()  # a client the user already connected (e.g. to a cluster scheduler)
        own = None
    except ValueError:
        own = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
        client = Client(own)
    try:
        futures = client.map(_run_group, _groups(tasks), pure=False)
        for f in as_completed(futures):
            yield from f.result()
    finally:
        if own is not None:
            client.close()
            own.close()
