"""rANS strings of CompressAI's coder: encoding by its C++ ``RansEncoder``, decoding by a
bounds-checked numba decoder that is bit-exact with CompressAI's ``RansDecoder`` on valid strings.

The decoder never reads past the string: past the end it reads zeros (and reports how far it
ran), it stops on an impossible escape code, and it checks the coder's final state, so a
damaged string decodes to (partly wrong) symbols and a problem string, never a crash, a hang
or foreign memory.

Units: a string is bytes (little-endian 32-bit words, so a valid length is a multiple of 4);
symbols are int values (``symbol index + offsets[table]``); ``indexes`` name the table
(:class:`~semlink.entropy.tables.Tables` row) of each symbol, one per symbol, flat int32.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from .tables import Tables

RANS_L = 1 << 31
PRECISION = 16
#: An escape-coded value of an int32 takes at most 8 nibbles; a larger count is corruption.
MAX_BYPASS_NIBBLES = 8


def rans_encode(symbols, indexes, tables: Tables) -> bytes:
    """rANS string of ``symbols`` (int values, any shape, flattened C-order; an int32 Tensor or
    array) coded with the tables ``indexes`` (int32, one per symbol) of ``tables``, by
    CompressAI's ``RansEncoder``."""
    from .compressai_glue import rans_encoder

    sym = np.asarray(symbols, dtype=np.int32).reshape(-1)
    idx = np.asarray(indexes, dtype=np.int32).reshape(-1)
    cdf, sizes, offsets = tables.lists
    return bytes(rans_encoder().encode_with_indexes(sym.tolist(), idx.tolist(), cdf, sizes, offsets))


@numba.njit(inline="always", cache=True, nogil=True)
def _renorm(x, words, pos, over):  # pragma: no cover - compiled
    """rANS renormalisation: below RANS_L, shift in the next 32-bit word (zeros past the end of
    the string, counted in ``over``). Returns (x, pos, over)."""
    if x < np.uint64(RANS_L):
        if pos < words.shape[0]:
            x = (x << np.uint64(32)) | np.uint64(words[pos])
        else:
            x = x << np.uint64(32)
            over += 1
        pos += 1
    return x, pos, over


@functools.cache
def _get_rans_kernel():
    """numba-compiled bounds-checked rANS decoder (compiled once per process, cached on disk)."""

    @numba.njit(cache=True, nogil=True)
    def kernel(words, indexes, cdfs, cdf_sizes, offsets, out):  # pragma: no cover - compiled
        n = words.shape[0]
        lo = np.uint64(RANS_L)
        mask = np.uint64((1 << PRECISION) - 1)
        sh = np.uint64(PRECISION)
        s32 = np.uint64(32)
        pos = 0
        over = 0
        w0 = np.uint64(words[0]) if n > 0 else np.uint64(0)
        w1 = np.uint64(words[1]) if n > 1 else np.uint64(0)
        if n < 2:
            over += 2 - n
        x = w0 | (w1 << s32)
        pos = 2
        status = 0  # 0 ok, 1 bad escape count
        done = 0
        for i in range(indexes.shape[0]):
            ci = indexes[i]
            size = cdf_sizes[ci]
            max_value = size - 2
            cum = x & mask
            j = 0
            while j < size and np.uint64(cdfs[ci, j]) <= cum:
                j += 1
            s = j - 1
            start = np.uint64(cdfs[ci, s])
            freq = np.uint64(cdfs[ci, s + 1]) - start
            x = freq * (x >> sh) + (x & mask) - start
            x, pos, over = _renorm(x, words, pos, over)
            value = np.int64(s)
            if s == max_value:
                # escape (bypass) mode: 4-bit nibbles
                val = np.int64(x & np.uint64(15))
                x = x >> np.uint64(4)
                x, pos, over = _renorm(x, words, pos, over)
                nb = val
                if nb > MAX_BYPASS_NIBBLES:
                    status = 1
                    done = i
                    break
                raw = np.int64(0)
                for k in range(nb):
                    v = np.int64(x & np.uint64(15))
                    x = x >> np.uint64(4)
                    x, pos, over = _renorm(x, words, pos, over)
                    raw |= v << (4 * k)
                if raw >= (np.int64(1) << 31):  # C++ keeps raw in an int32
                    raw -= np.int64(1) << 32
                value = raw >> 1
                if raw & 1:
                    value = -value - 1
                else:
                    value += max_value
            out[i] = value + offsets[ci]
            done = i + 1
        return status, done, pos, over, x == lo

    return kernel


def rans_decode(data: bytes, indexes: np.ndarray, tables: Tables) -> tuple[np.ndarray, str]:
    """Decode an rANS string of CompressAI's ``RansEncoder`` (or :func:`rans_encode`) whose
    symbols use the tables ``indexes`` (int32 [n_symbols]) of ``tables``; never reads past ``data``.

    Returns:
        (symbols int64 [len(indexes)], problem): ``problem`` is "" when the string passed the
        integrity check (final state and length), else what was wrong; symbols of a damaged
        string are whatever the decoder produced (zeros after a fatal escape code).
    """
    pad = (-len(data)) % 4
    words = np.frombuffer(bytes(data) + b"\0" * pad, dtype="<u4")
    idx = np.ascontiguousarray(np.reshape(indexes, -1), dtype=np.int32)
    out = np.zeros(len(idx), dtype=np.int64)
    status, done, pos, over, final_ok = _get_rans_kernel()(words, idx, tables.cdf, tables.sizes, tables.offsets, out)
    if status == 1:
        return out, f"impossible escape code at symbol {done} of {len(idx)}"
    problems = []
    if pad:
        problems.append(f"length {len(data)} is not a multiple of 4")
    if over:
        problems.append(f"ran {4 * over} bytes past the end")
    elif pos != len(words):
        problems.append(f"{4 * (len(words) - pos)} bytes left unread")
    if not final_ok:
        problems.append("final coder state mismatch")
    return out, "; ".join(problems)
