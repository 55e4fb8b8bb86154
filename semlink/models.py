"""One process-wide cache of loaded models: :data:`MODELS`, a :class:`ModelCache`.

Every codec that loads networks from checkpoints (hyperprior, gan-c2f, vqdeepvsc, seb,
dvc-pair) keeps them here, keyed by a tuple whose first element is its namespace (the codec
name), so a model is loaded once per process however many codec instances use it.

>>> from semlink.models import MODELS
>>> model = MODELS.get(("hyperprior", checkpoint, manifest, "hyperprior", "cpu"), lambda: load(...))
>>> MODELS.clear("hyperprior")          # forget one namespace (or everything: clear())
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, TypeVar

T = TypeVar("T")


class ModelCache:
    """Thread-safe cache ``key -> loaded model``.

    One lock per key: a slow load blocks only the callers of the same key (who then get the
    loaded object), never the others. A load that raises stores nothing (the next call tries
    again). With ``max_entries`` the least recently used entry is dropped when a new one
    would exceed it.

    Args:
        max_entries: the most entries kept (None: no limit).
    """

    def __init__(self, max_entries: int | None = None) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError(f"max_entries must be >= 1 or None, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, object] = OrderedDict()
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()  # guards _entries and _key_locks, never held while loading

    def get(self, key: tuple, load: Callable[[], T]) -> T:
        """The object cached under ``key`` (a hashable tuple; ``key[0]`` is its namespace), loaded
        by ``load()`` on first use."""
        if not isinstance(key, tuple) or not key:
            raise TypeError(f"a model cache key is a non-empty hashable tuple, got {key!r}")
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]  # type: ignore[return-value]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:  # loaded by another thread while this one waited
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]  # type: ignore[return-value]
            value = load()
            with self._lock:
                self._entries[key] = value
                self._entries.move_to_end(key)
                while self.max_entries is not None and len(self._entries) > self.max_entries:
                    old, _ = self._entries.popitem(last=False)
                    self._key_locks.pop(old, None)
            return value

    def clear(self, namespace: str | None = None) -> None:
        """Forget every entry (``namespace`` None) or those whose key starts with ``namespace``."""
        with self._lock:
            for key in [k for k in self._entries if namespace is None or k[0] == namespace]:
                del self._entries[key]
                self._key_locks.pop(key, None)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def keys(self) -> list[tuple]:
        """The cached keys, least recently used first (a copy)."""
        with self._lock:
            return list(self._entries)

    def __repr__(self) -> str:
        return f"ModelCache({len(self)} entries, max_entries={self.max_entries})"


#: the process-wide cache of loaded models (the only module-level model store)
MODELS = ModelCache()
