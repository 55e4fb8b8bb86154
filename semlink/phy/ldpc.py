"""IEEE 802.11n (HT) LDPC codes, n = 648, lifting size Z = 27.

The base and parity-check matrices come from :mod:`semlink.phy.ldpc_tables` (re-exported
here): only the verified rates 3/4 and 1/2 are shipped, another rate raises a ``ValueError``.

LLR sign convention (the one used everywhere in :mod:`semlink.phy`, same as Sionna 2.x)::

    llr = log( P(bit = 1 | y) / P(bit = 0 | y) )

so a *positive* LLR favours bit 1 and hard decision is ``bit = llr > 0``.

Decoders are chosen by name from :data:`DECODERS`:

* ``"sionna"``: Sionna's :class:`sionna.phy.fec.ldpc.LDPCBPDecoder` on the expanded matrix
  (flooding sum-product, the reference decoder);
* ``"fast"`` (default): :mod:`semlink.phy.ldpc_fast`, a Numba belief-propagation decoder that
  exploits the quasi-cyclic structure, validated against the Sionna decoder in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from semlink.phy import ldpc_fast
from semlink.phy.ldpc_tables import (  # noqa: F401  (re-exported: the public names of the tables)
    SUPPORTED_RATES,
    Z_648,
    check_code,
    ieee80211n_base_matrix,
    ieee80211n_parity_check_matrix,
)


def _decode_sionna(code: "LDPCCode", llr: np.ndarray, num_iter: int) -> np.ndarray:
    """Reference: Sionna's LDPCBPDecoder (flooding sum-product), returns hard codeword bits [b, n]."""
    import torch

    dec = code._sionna_decoder(num_iter)
    # Sionna's decoder takes LLRs with our sign convention (log p(1)/p(0)).
    with torch.no_grad():
        out = dec(torch.as_tensor(llr, dtype=torch.float32))
    return out.cpu().numpy().astype(np.uint8)


def _decode_fast(code: "LDPCCode", llr: np.ndarray, num_iter: int) -> np.ndarray:
    return ldpc_fast.decode(code.base, code.z, llr, num_iter=num_iter)


#: Decoder registry: name -> function(code, llr[b, n] float32, num_iter) -> hard bits uint8 [b, n].
DECODERS: dict[str, Callable[["LDPCCode", np.ndarray, int], np.ndarray]] = {
    "sionna": _decode_sionna,
    "fast": _decode_fast,
}


@dataclass(frozen=True)
class _EncoderTables:
    """Gather indices for the dual-diagonal linear-time encoder."""

    lam_idx: tuple[np.ndarray, ...]  # per block row: [deg, Z] indices into the info bits
    p0_shift: tuple[int, ...]  # per block row: shift of the first parity block column (-1 = none)


class LDPCCode:
    """An 802.11n LDPC code with systematic linear-time encoding and BP decoding.

    Args:
        n: codeword length in bits (648).
        rate: ``"3/4"`` (default, k = 486) or ``"1/2"`` (k = 324).
        decoder: ``"fast"`` (default) or ``"sionna"`` (reference); see :data:`DECODERS`.
        num_iter: maximum number of belief-propagation iterations.
    """

    def __init__(self, n: int = 648, rate: str = "3/4", decoder: str = "fast", num_iter: int = 20):
        check_code(n, rate)
        if decoder not in DECODERS:
            raise ValueError(f"decoder={decoder!r} is unknown; choose one of {sorted(DECODERS)}")
        if not isinstance(num_iter, int) or num_iter < 1:
            raise ValueError(f"num_iter must be a positive int, got {num_iter!r}")
        self.n = n
        self.rate = rate
        self.decoder = decoder
        self.num_iter = num_iter
        self.base = ieee80211n_base_matrix(n, rate)
        self.z = n // self.base.shape[1]
        self.pcm = ieee80211n_parity_check_matrix(n, rate)
        self.m = self.pcm.shape[0]
        self.k = n - self.m
        self._tables = self._build_encoder_tables()
        self._sionna_cache: dict[int, object] = {}

    def __repr__(self) -> str:
        return f"LDPCCode(n={self.n}, rate={self.rate!r}, decoder={self.decoder!r}, num_iter={self.num_iter})"

    @property
    def code_rate(self) -> float:
        return self.k / self.n

    # ------------------------------------------------------------------ encoding
    def _build_encoder_tables(self) -> _EncoderTables:
        base, z = self.base, self.z
        mb, nb = base.shape
        kb = nb - mb
        r = np.arange(z)
        lam, p0 = [], []
        for i in range(mb):
            idx = [j * z + (r + int(base[i, j])) % z for j in range(kb) if base[i, j] >= 0]
            lam.append(np.stack(idx).astype(np.intp))
            p0.append(int(base[i, kb]))
        # The weight-3 first parity column (shifts a, b, a) sums to the identity, which is
        # what makes p0 = sum of all row syndromes (802.11n dual-diagonal structure).
        col = [s for s in p0 if s >= 0]
        if len(col) != 3 or col[0] != col[2] or col[1] != 0:
            raise ValueError("base matrix lacks the 802.11n dual-diagonal parity structure")
        for i in range(mb):
            for j in range(kb + 1, nb):
                expected = 0 if j - kb - 1 in (i - 1, i) else -1
                if int(base[i, j]) != expected:
                    raise ValueError("base matrix lacks the 802.11n dual-diagonal parity structure")
        return _EncoderTables(tuple(lam), tuple(p0))

    def encode(self, bits: np.ndarray) -> np.ndarray:
        """Systematic encoding: uint8 bits [..., k] -> codewords [..., n] (information bits first).

        Linear time: per block row ``lambda_i = sum_j P^{s_ij} u_j``; then ``p_0 = sum_i lambda_i``
        and the dual diagonal is solved by forward substitution. For Z <= 63 this runs in numba
        on Z-bit words (a circulant is a rotation of a word); :meth:`_encode_numpy` is the same
        algorithm on bit arrays (the reference the tests compare it with).
        """
        u = np.asarray(bits)
        if u.shape[-1:] != (self.k,):
            raise ValueError(f"bits must have last dimension k={self.k}, got shape {u.shape}")
        lead = u.shape[:-1]
        u = u.reshape(-1, self.k).astype(np.uint8, copy=False)
        if self.z > 63:
            return self._encode_numpy(u).reshape(*lead, self.n)
        cw = np.empty((u.shape[0], self.n), dtype=np.uint8)
        if u.shape[0]:
            from .ldpc_encode import encode_words

            encode_words(np.ascontiguousarray(u), self.base.astype(np.int64), self.z, cw)
        return cw.reshape(*lead, self.n)

    def _encode_numpy(self, u: np.ndarray) -> np.ndarray:
        """:meth:`encode` on uint8 bits [b, k] with numpy bit arrays -> [b, n]."""
        z, mb = self.z, self.base.shape[0]
        lam = [np.bitwise_xor.reduce(u[:, idx], axis=1) for idx in self._tables.lam_idx]  # [b, Z] each
        p = np.empty((u.shape[0], mb, z), dtype=np.uint8)
        p0 = np.bitwise_xor.reduce(np.stack(lam, axis=1), axis=1)
        shifted = {}
        for s in set(self._tables.p0_shift) - {-1}:
            shifted[s] = np.roll(p0, -s, axis=1)  # (P^s p0)[r] = p0[(r + s) % Z]
        # Parity block 0 is p0; the dual diagonal gives p_{i+1} = p_i + lam_i + P^{s_i} p0.
        p_blocks = [p0]
        acc = np.zeros_like(p0)
        for i in range(mb - 1):
            acc = acc ^ lam[i]
            s = self._tables.p0_shift[i]
            if s >= 0:
                acc = acc ^ shifted[s]
            p_blocks.append(acc.copy())
        p[:] = np.stack(p_blocks, axis=1)
        return np.concatenate([u, p.reshape(u.shape[0], mb * z)], axis=1)

    def syndrome_ok(self, codewords: np.ndarray) -> np.ndarray:
        """bool [...]: whether ``H c = 0`` for each codeword [..., n]."""
        c = np.asarray(codewords).reshape(-1, self.n).astype(np.int64)
        s = (c @ self.pcm.T.astype(np.int64)) % 2
        return ~s.any(axis=1).reshape(np.asarray(codewords).shape[:-1])

    # ------------------------------------------------------------------ decoding
    def _sionna_decoder(self, num_iter: int):
        if num_iter not in self._sionna_cache:
            from sionna.phy.fec.ldpc import LDPCBPDecoder

            self._sionna_cache[num_iter] = LDPCBPDecoder(
                self.pcm.astype(np.float32), num_iter=num_iter, hard_out=True, return_infobits=False
            )
        return self._sionna_cache[num_iter]

    def decode_codeword(self, llr: np.ndarray, decoder: str | None = None, num_iter: int | None = None) -> np.ndarray:
        """Belief-propagation decoding: float LLRs [..., n] -> hard codeword bits uint8 [..., n]."""
        name = decoder or self.decoder
        if name not in DECODERS:
            raise ValueError(f"decoder={name!r} is unknown; choose one of {sorted(DECODERS)}")
        x = np.asarray(llr, dtype=np.float32)
        if x.shape[-1:] != (self.n,):
            raise ValueError(f"llr must have last dimension n={self.n}, got shape {x.shape}")
        lead = x.shape[:-1]
        x = np.ascontiguousarray(x.reshape(-1, self.n))
        if x.shape[0] == 0:
            return np.zeros((*lead, self.n), dtype=np.uint8)
        out = DECODERS[name](self, x, num_iter or self.num_iter)
        return out.reshape(*lead, self.n)

    def decode(self, llr: np.ndarray, decoder: str | None = None, num_iter: int | None = None) -> np.ndarray:
        """Belief-propagation decoding: float LLRs [..., n] -> information bits uint8 [..., k].

        LLR convention: ``log P(1)/P(0)`` (positive favours 1).
        """
        return self.decode_codeword(llr, decoder, num_iter)[..., : self.k]
