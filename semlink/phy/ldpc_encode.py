"""Numba encoder for 802.11n-style quasi-cyclic LDPC codes (dual-diagonal parity part).

Every Z-bit block of a codeword is held in one integer word (bit r = code bit r of the block),
so the circulant permutation ``P^s`` (``(P^s x)[r] = x[(r + s) mod Z]``) is a rotation of the
word. Per codeword: ``lambda_i = xor_j rot(u_j, s_ij)`` over the information blocks of block
row i, ``p_0 = xor_i lambda_i``, then down the dual diagonal ``p_1 = lambda_0 ^ rot(p_0, s_0)`` and
``p_{i+1} = p_i ^ lambda_i ^ rot(p_0, s_i)`` (rot term only where block (i, kb) is non-zero). The structure checks live in :class:`semlink.phy.ldpc.LDPCCode`.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always", cache=True, nogil=True)
def _rot(x, s, z, mask):  # pragma: no cover - compiled
    if s == 0:
        return x
    return ((x >> np.uint64(s)) | (x << np.uint64(z - s))) & mask


@numba.njit(parallel=True, cache=True, nogil=True)
def encode_words(u, base, z, out):  # pragma: no cover - compiled
    """u uint8 [B, kb * z] information bits -> out uint8 [B, nb * z] codewords (systematic).

    base: int64 [mb, nb] shifts (-1 = zero block); the last mb columns are the parity part.
    """
    n_cw = u.shape[0]
    mb, nb = base.shape
    kb = nb - mb
    k = kb * z
    mask = np.uint64((1 << z) - 1)
    for c in numba.prange(n_cw):
        w = np.empty(kb, np.uint64)
        lam = np.empty(mb, np.uint64)
        for j in range(kb):
            acc = np.uint64(0)
            for r in range(z):
                acc |= np.uint64(u[c, j * z + r]) << np.uint64(r)
            w[j] = acc
        p0 = np.uint64(0)
        for i in range(mb):
            acc = np.uint64(0)
            for j in range(kb):
                s = base[i, j]
                if s >= 0:
                    acc ^= _rot(w[j], s, z, mask)
            lam[i] = acc
            p0 ^= acc
        for v in range(k):
            out[c, v] = u[c, v]
        acc = np.uint64(0)
        for i in range(mb):
            if i == 0:
                p = p0
            else:
                acc ^= lam[i - 1]
                s = base[i - 1, kb]
                if s >= 0:
                    acc ^= _rot(p0, s, z, mask)
                p = acc
            o = k + i * z
            for r in range(z):
                out[c, o + r] = np.uint8((p >> np.uint64(r)) & np.uint64(1))
