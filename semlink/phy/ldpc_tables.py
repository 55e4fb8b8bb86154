"""IEEE 802.11n (HT) LDPC code tables, n = 648, lifting size Z = 27.

Base matrices are package data (``semlink/phy/tables``), transcribed from IEEE Std 802.11n
Annex R, Table R.1. Only the rates whose tables were verified are shipped (3/4 and 1/2);
asking for another rate raises a ``ValueError`` rather than guessing a table.

This module only loads and expands the tables; :mod:`semlink.phy.ldpc` (the code: encoder and
decoder registry) and :mod:`semlink.phy.ldpc_fast` (the numba decoder) both build on it, and
:mod:`semlink.phy.ldpc` re-exports its public names.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = [
    "Z_648", "SUPPORTED_RATES", "SHIPPED", "check_code", "ieee80211n_base_matrix", "ieee80211n_parity_check_matrix",
]

Z_648 = 27
_TABLES = {
    (648, "3/4"): "ieee80211n_n648_r3_4.txt",
    (648, "1/2"): "ieee80211n_n648_r1_2.txt",
}
SUPPORTED_RATES = tuple(r for (_, r) in _TABLES)
#: (n, rate) of every shipped table (semlink.phy.codes names them "80211n-N-RATE")
SHIPPED = tuple(_TABLES)


def check_code(n: int, rate: str) -> None:
    """Raise ``ValueError`` unless an 802.11n table for (n, rate) is shipped."""
    if (n, rate) not in _TABLES:
        have = ", ".join(f"n={k[0]} rate={k[1]!r}" for k in _TABLES)
        raise ValueError(
            f"LDPC code n={n!r}, rate={rate!r} is not provided (verified 802.11n tables: {have})"
        )


@lru_cache(maxsize=None)
def ieee80211n_base_matrix(n: int = 648, rate: str = "3/4") -> np.ndarray:
    """Base (prototype) matrix of the 802.11n code: int16 [n_rows_b, 24], ``-1`` = zero block."""
    check_code(n, rate)
    text = resources.files("semlink.phy").joinpath("tables", _TABLES[(n, rate)]).read_text()
    rows = [list(map(int, ln.split())) for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    base = np.array(rows, dtype=np.int16)
    base.setflags(write=False)
    return base


@lru_cache(maxsize=None)
def ieee80211n_parity_check_matrix(n: int = 648, rate: str = "3/4") -> np.ndarray:
    """Expanded binary parity-check matrix, uint8 [n - k, n] (162 x 648 for rate 3/4).

    Block ``s >= 0`` is the Z x Z identity shifted right by ``s``: ``H[r, (r + s) % Z] = 1``.
    """
    base = ieee80211n_base_matrix(n, rate)
    z = n // base.shape[1]
    mb, nb = base.shape
    h = np.zeros((mb * z, nb * z), dtype=np.uint8)
    r = np.arange(z)
    for i in range(mb):
        for j in range(nb):
            s = int(base[i, j])
            if s >= 0:
                h[i * z + r, j * z + (r + s) % z] = 1
    h.setflags(write=False)
    return h
