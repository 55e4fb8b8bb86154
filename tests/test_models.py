"""semlink.models.ModelCache: one load per key, one lock per key, LRU bound, namespaces."""

from __future__ import annotations

import threading
import time

import pytest

from semlink.models import MODELS, ModelCache


def test_loads_once_and_forgets_failures():
    cache, calls = ModelCache(), []

    def load():
        calls.append(1)
        return object()

    a = cache.get(("ns", 1), load)
    assert cache.get(("ns", 1), load) is a and len(calls) == 1 and ("ns", 1) in cache and len(cache) == 1

    def broken():
        raise RuntimeError("no weights")

    with pytest.raises(RuntimeError, match="no weights"):
        cache.get(("ns", 2), broken)
    assert ("ns", 2) not in cache
    assert cache.get(("ns", 2), lambda: "ok") == "ok"  # a failed load is tried again
    with pytest.raises(TypeError, match="tuple"):
        cache.get("ns", load)


def test_lru_bound_and_namespaces():
    cache = ModelCache(max_entries=2)
    cache.get(("a", 1), lambda: 1)
    cache.get(("b", 1), lambda: 2)
    cache.get(("a", 1), lambda: 0)  # a/1 is now the most recently used
    cache.get(("a", 2), lambda: 3)  # evicts b/1
    assert cache.keys() == [("a", 1), ("a", 2)]
    cache.get(("b", 2), lambda: 4)
    cache.clear("a")
    assert cache.keys() == [("b", 2)]
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError):
        ModelCache(max_entries=0)
    assert isinstance(MODELS, ModelCache)


def test_a_slow_load_blocks_only_its_key():
    cache = ModelCache()
    started, release = threading.Event(), threading.Event()
    loads = []

    def slow():
        loads.append("slow")
        started.set()
        assert release.wait(10)
        return "slow"

    results = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, cache.get(("ns", "slow"), slow)))
               for i in range(3)]
    threads[0].start()
    assert started.wait(10)
    for t in threads[1:]:
        t.start()
    t0 = time.monotonic()
    assert cache.get(("ns", "fast"), lambda: "fast") == "fast"  # not blocked by the slow key
    assert time.monotonic() - t0 < 5
    release.set()
    for t in threads:
        t.join(10)
    assert results == {0: "slow", 1: "slow", 2: "slow"} and loads == ["slow"]  # the waiters got the one load
