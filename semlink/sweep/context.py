"""What a sweep worker keeps between rows, in one object passed to the row function.

A :class:`WorkerContext` holds the loaded datasets, the built codecs, the links (built and
warmed up once per configuration, shared by every link spec that uses it), the encodings of the
last transmissions, the memo of computed metrics and the perceptual networks. Each worker
process has one (:func:`WorkerContext.current`); a sweep run in the caller's process
(``workers=1``) uses the caller's, which :meth:`~WorkerContext.clear` empties. A Dask worker with
several threads runs its rows one at a time (:attr:`~WorkerContext.lock`): nothing in here is
shared between threads.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, ClassVar

from semlink.phy.linkspec import LinkCache, LinkSpec


class LRU(OrderedDict):
    """A dict that keeps its ``size`` most recently used entries."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_fresh(self, key):
        """The value of ``key`` (marked recently used), or None."""
        if key in self:
            self.move_to_end(key)
            return self[key]
        return None

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


@dataclass
class WorkerContext:
    """A worker's caches (see the module docstring)."""

    datasets: dict = field(default_factory=dict)
    codecs: dict = field(default_factory=dict)
    links: LinkCache = field(default_factory=LinkCache)
    transports: dict = field(default_factory=dict)
    encodings: LRU = field(default_factory=lambda: LRU(16))
    metric_memo: LRU = field(default_factory=lambda: LRU(256))
    metrics: dict = field(default_factory=dict)
    lock: Any = field(default_factory=threading.Lock)

    def items(self, dataset: str, options: tuple, names: tuple[str, ...]) -> list:
        """``(name, data)`` of the named items of a dataset (loaded once per worker)."""
        from semlink.data import get_dataset

        k = (dataset, options)
        if k not in self.datasets:
            self.datasets[k] = {it.name: it for it in get_dataset(dataset, **dict(options))}
        return [(n, self.datasets[k][n].data) for n in names]

    def codec(self, name: str, options: tuple):
        """The codec ``name`` with ``options`` (built once per worker; a re-registered class builds anew)."""
        from semlink.codecs import codec_class, get_codec

        k = (name, options, id(codec_class(name)))
        if k not in self.codecs:
            self.codecs[k] = get_codec(name, **dict(options))
        return self.codecs[k]

    def transport(self, spec: LinkSpec):
        """(the transport of ``spec``, seconds spent building it now: 0 when cached)."""
        if spec.key in self.transports:
            return self.transports[spec.key], 0.0
        t0 = time.perf_counter()
        transport, _ = spec.build(self.links)
        self.transports[spec.key] = transport
        return transport, time.perf_counter() - t0

    def metric(self, name: str, perceptual: str = "auto"):
        """The metric ``name`` (built once per worker); ``"perceptual"`` is the spec's ``perceptual``
        choice (``"auto"``: ST-LPIPS)."""
        from semlink.simulator.metrics import build_metric

        if name == "perceptual":
            name = "st_lpips" if perceptual == "auto" else perceptual
        if name not in self.metrics:
            self.metrics[name] = build_metric(name)
        return self.metrics[name]

    def clear(self) -> None:
        """Forget everything (the next rows load and build anew)."""
        for c in (self.datasets, self.codecs, self.transports, self.encodings, self.metric_memo,
                  self.metrics):
            c.clear()
        self.links.clear()

    _current: ClassVar["WorkerContext | None"] = None

    @classmethod
    def current(cls) -> "WorkerContext":
        """This process's context (created on first use)."""
        if WorkerContext._current is None:
            WorkerContext._current = cls()
        return WorkerContext._current
