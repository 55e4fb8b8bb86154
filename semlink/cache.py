"""The user cache directory of semlink: per-configuration tables that are costly to rebuild.

Location: ``$SEMLINK_CACHE_DIR``, else ``$XDG_CACHE_HOME/semlink``, else ``~/.cache/semlink``.
Entries are keyed by a hash of everything that determines them (so a changed configuration
misses the cache instead of reading a stale entry), written atomically (temporary file +
rename, so concurrent workers never read half a file) and safe to delete at any time.

Used by: the LMMSE channel estimator's covariance matrices (:mod:`semlink.phy.link`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def cache_dir() -> Path:
    """The cache root (not created here)."""
    env = os.environ.get("SEMLINK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "semlink"


def cache_key(facts: dict[str, Any]) -> str:
    """Stable hex key of a JSON-able description (sorted keys)."""
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def load_arrays(kind: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored under ``kind/key``, or None (absent or unreadable: then rebuilt)."""
    path = cache_dir() / kind / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):
        return None


def save_arrays(kind: str, key: str, arrays: dict[str, np.ndarray], facts: dict[str, Any] | None = None) -> Path | None:
    """Store arrays under ``kind/key`` atomically (plus a JSON of ``facts`` for people); None if
    the cache directory is not writable (the caller just goes on without a cache)."""
    folder = cache_dir() / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp.npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        path = folder / f"{key}.npz"
        os.replace(tmp, path)
        if facts is not None:
            (folder / f"{key}.json").write_text(json.dumps(facts, sort_keys=True, indent=1, default=str))
        return path
    except OSError:
        return None


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
