"""Seb bitstream pieces: the set header and the usage information A (eq. 7).

Shared parts of a set (sent once; every bit counted):

* ``header``: version, rate level, n, J, K_1..K_J, then per image (H, W, subset j), varints,
  followed by a CRC-32 of all of it. A header that fails its CRC makes the whole set a
  concealment (nothing else can be placed without it).
* ``sebs``: the quantised Sebs of all subsets, one rANS string (factorized entropy model), R(S).
* ``usage``: every patch's Seb index, packed as ONE mixed-radix integer (digit radix K_j of the
  patch's subset), i.e. ``ceil(sum_i n_p,i log2 K_j(i))`` bits rounded up to whole bytes: eq. 7's
  ``n x n_p x log2 K`` plus at most 7 bits.

Per image: ``motion_z``, ``motion_y`` (R(Z^m)), ``residual`` (R(Z^r)).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from semlink.codecs._util import read_varint, write_varint

VERSION = 1


@dataclass(frozen=True)
class SetHeader:
    """What the receiver must know about a set: rate level, Sebs per subset, images' sizes and subsets."""

    level: int
    ks: tuple[int, ...]
    sizes: tuple[tuple[int, int], ...]
    subsets: tuple[int, ...]

    def __post_init__(self):
        if len(self.sizes) != len(self.subsets) or not self.sizes:
            raise ValueError("a set header needs one (H, W) and one subset index per image")
        if any(not 0 <= j < len(self.ks) for j in self.subsets):
            raise ValueError(f"subset index out of range 0..{len(self.ks) - 1}")
        if any(k < 1 for k in self.ks):
            raise ValueError("every subset needs K >= 1 Sebs")

    @property
    def n(self) -> int:
        return len(self.sizes)

    def pack(self) -> bytes:
        out = bytearray([VERSION, self.level])
        out += write_varint(self.n) + write_varint(len(self.ks))
        for k in self.ks:
            out += write_varint(k)
        for (h, w), j in zip(self.sizes, self.subsets):
            out += write_varint(h) + write_varint(w) + write_varint(j)
        return bytes(out) + zlib.crc32(bytes(out)).to_bytes(4, "big")

    @classmethod
    def parse(cls, data: bytes) -> "SetHeader":
        """ValueError on a failed CRC or a malformed header."""
        data = bytes(data)
        if len(data) < 7 or zlib.crc32(data[:-4]).to_bytes(4, "big") != data[-4:]:
            raise ValueError("set header failed its CRC-32")
        body = data[:-4]
        if body[0] != VERSION:
            raise ValueError(f"unknown Seb header version {body[0]}")
        level, pos = body[1], 2
        n, pos = read_varint(body, pos)
        j, pos = read_varint(body, pos)
        if not (1 <= n <= 1 << 16 and 1 <= j <= n):
            raise ValueError(f"implausible set header (n={n}, J={j})")
        ks = []
        for _ in range(j):
            k, pos = read_varint(body, pos)
            ks.append(k)
        sizes, subsets = [], []
        for _ in range(n):
            h, pos = read_varint(body, pos)
            w, pos = read_varint(body, pos)
            s, pos = read_varint(body, pos)
            sizes.append((h, w))
            subsets.append(s)
        if pos != len(body):
            raise ValueError(f"set header has {len(body) - pos} trailing bytes")
        return cls(level, tuple(ks), tuple(sizes), tuple(subsets))


def usage_num_bits(radices: np.ndarray) -> int:
    """Bits of the packed usage for digit radices [P]: ceil(sum log2 K)."""
    r = np.asarray(radices, dtype=np.float64)
    return int(math.ceil(float(np.log2(np.maximum(r, 1)).sum()) - 1e-9))


def pack_usage(digits: np.ndarray, radices: np.ndarray) -> bytes:
    """Mixed-radix packing of ``digits`` [P] (0 <= d < radix) into ceil(bits / 8) bytes."""
    digits, radices = np.asarray(digits, dtype=np.int64), np.asarray(radices, dtype=np.int64)
    if digits.shape != radices.shape:
        raise ValueError("digits and radices differ in length")
    if np.any(digits < 0) or np.any(digits >= radices):
        raise ValueError("a usage digit is outside 0..K-1")
    v = 0
    for d, k in zip(digits.tolist(), radices.tolist()):
        v = v * k + d
    nbytes = (usage_num_bits(radices) + 7) // 8
    return v.to_bytes(nbytes, "big") if nbytes else b""


def unpack_usage(data: bytes, radices: np.ndarray) -> tuple[np.ndarray, str]:
    """(digits [P], problem) from :func:`pack_usage`'s bytes; damaged bytes give in-range (wrong) digits.

    The bytes are read as exactly the expected length (zero-padded / truncated), so a part of the
    wrong length still decodes; ``problem`` says so."""
    radices = np.asarray(radices, dtype=np.int64)
    nbytes = (usage_num_bits(radices) + 7) // 8
    data = bytes(data)
    problem = "" if len(data) == nbytes else f"usage has {len(data)} bytes, expected {nbytes}"
    data = data[:nbytes].ljust(nbytes, b"\0")
    v = int.from_bytes(data, "big")
    out = np.zeros(len(radices), dtype=np.int64)
    for i in range(len(radices) - 1, -1, -1):
        v, out[i] = divmod(v, int(radices[i]))
    if v:
        problem = (problem + "; " if problem else "") + "usage value out of range"
    return out, problem
