"""VQ-DeepVSC's transmitted bits (Sec. V, eq. 19) and their protection.

Parts, in priority order (every bit the decoder reads; all counted):

* ``"header"`` — :class:`Header` (version, N, H, W, channels sent c, B = log2 L, repeats r,
  L_eta) + the key-frame mask v (N bits, eq. 19's first term) + CRC-32, the whole block
  repeated :data:`HEADER_COPIES` (32) times (about 5.9 kbit, 0.9 % of a 0.023-BCR clip at
  240x320x16; a repetition code that still works at 0 dB QPSK once soft-combined). The
  decoder takes the first copy whose CRC holds, else the soft combination of all copies (sum
  of channel LLRs, or a bitwise majority without LLRs) if it passes the CRC, else gives up (a
  concealment). Meant to be sent with the stronger code of
  ``[link.protect]`` as well (e.g. LDPC rate 1/2, QPSK).
* ``"p"`` — the selector masks p_2..p_M (L_s bits each, eq. 19's third term), packed MSB
  first, repeated r times. A damaged p may mis-align s_eta; the restorer never raises and
  flags the inconsistency. Protect it like the header where it matters.
* ``"indices"`` — s_eta, B bits per index (eq. 19's second term), MSB first, repeated r
  times. Unprotected by design: a wrong index gives a wrong codebook vector at one position
  of one channel (a local artefact), never a crash.

Repetition (the paper's retransmission of key frames under poor channels): the r copies of a
part are combined at the receiver: bytes whose packet passed its CRC in some copy are taken
from that copy; the other bytes are decided from the SUM of the copies' channel LLRs (soft
combining of the systematic bits; ``Codec.wants_llr``) or, without LLRs, by a bitwise
majority of the decoded copies.

BCR (eq. 19) = (N + L_eta B + L_s (M - 1)) / (3 H W 8 N); :func:`bcr_eq19` gives it, the
codec's ``info`` also gives the BCR of everything transmitted (repeats, header, padding).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

VERSION = 1
HEADER_COPIES = 32
_FMT = ">BBHHBBBI"  # version, N, H, W, c, B, r, L_eta


@dataclass(frozen=True)
class Header:
    """What the decoder must know. ``v``: key-frame mask uint8 [N]."""

    n: int
    h: int
    w: int
    c: int
    b: int
    r: int
    l_eta: int
    v: tuple[int, ...]

    def __post_init__(self):
        for name, val, lo, hi in (("n", self.n, 2, 255), ("h", self.h, 1, 65535), ("w", self.w, 1, 65535),
                                  ("c", self.c, 1, 255), ("b", self.b, 1, 16), ("r", self.r, 1, 255),
                                  ("l_eta", self.l_eta, 0, 2**32 - 1)):
            if not lo <= int(val) <= hi:
                raise ValueError(f"header field {name}={val} outside [{lo}, {hi}]")
        if len(self.v) != self.n or any(x not in (0, 1) for x in self.v) or self.v[0] != 1 or self.v[-1] != 1:
            raise ValueError("header field v must be N bits with the first and last set")

    @property
    def m(self) -> int:
        return int(sum(self.v))

    def block(self) -> bytes:
        body = struct.pack(_FMT, VERSION, self.n, self.h, self.w, self.c, self.b, self.r, self.l_eta)
        body += np.packbits(np.array(self.v, np.uint8)).tobytes()
        return body + struct.pack(">I", zlib.crc32(body))

    def pack(self) -> bytes:
        return self.block() * HEADER_COPIES

    @staticmethod
    def block_size(n: int) -> int:
        return struct.calcsize(_FMT) + (n + 7) // 8 + 4

    @classmethod
    def parse_block(cls, blk: bytes) -> "Header":
        """One copy -> Header; ValueError if the CRC or a field is wrong."""
        k = struct.calcsize(_FMT)
        if len(blk) < k + 5:
            raise ValueError("header copy too short")
        ver, n, h, w, c, b, r, l_eta = struct.unpack(_FMT, blk[:k])
        if ver != VERSION:
            raise ValueError(f"unknown header version {ver}")
        size = cls.block_size(n)
        if len(blk) < size:
            raise ValueError("header copy too short for its N")
        body, crc = blk[: size - 4], struct.unpack(">I", blk[size - 4 : size])[0]
        if zlib.crc32(body) != crc:
            raise ValueError("header CRC mismatch")
        v = tuple(int(x) for x in np.unpackbits(np.frombuffer(body[k:], np.uint8))[:n])
        return cls(n, h, w, c, b, r, l_eta, v)

    @classmethod
    def parse(cls, data: bytes, llr: np.ndarray | None = None) -> "Header":
        """The first copy whose CRC holds, else the copies combined (the sum of their channel
        LLRs when given, else a bitwise majority) if that passes the CRC; ValueError naming
        why none is valid."""
        size = len(data) // HEADER_COPIES
        if size < struct.calcsize(_FMT) + 5:
            raise ValueError(f"header part has {len(data)} bytes")
        copies = [bytes(data[i * size : (i + 1) * size]) for i in range(HEADER_COPIES)]
        errors = []
        for blk in copies:
            try:
                return cls.parse_block(blk)
            except (ValueError, struct.error) as e:
                errors.append(str(e))
        if llr is not None and np.asarray(llr).size >= 8 * size * HEADER_COPIES:
            L = np.nan_to_num(np.asarray(llr, np.float64)[: 8 * size * HEADER_COPIES], posinf=50, neginf=-50)
            bits = (L.reshape(HEADER_COPIES, 8 * size).sum(0) > 0).astype(np.uint8)
            how = "LLR sum"
        else:
            b = np.stack([np.unpackbits(np.frombuffer(c, np.uint8)) for c in copies])
            bits = (2 * b.sum(0) > HEADER_COPIES).astype(np.uint8)
            how = "majority"
        try:
            return cls.parse_block(np.packbits(bits).tobytes())
        except (ValueError, struct.error) as e:
            errors.append(f"{how}: {e}")
        raise ValueError(f"no header copy is valid ({'; '.join(dict.fromkeys(errors))})")


def pack_uint(values: np.ndarray, bits: int) -> bytes:
    """Unsigned integers (< 2^bits) -> bytes, ``bits`` per value, MSB first, zero-padded."""
    v = np.asarray(values, np.uint32).reshape(-1)
    if v.size and int(v.max()) >= 1 << bits:
        raise ValueError(f"value {int(v.max())} does not fit {bits} bits")
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint32)
    b = ((v[:, None] >> shifts[None, :]) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(b).tobytes()


def unpack_uint(data: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_uint`: the first ``count`` values (missing bits read as 0)."""
    b = np.unpackbits(np.frombuffer(data, np.uint8))
    need = count * bits
    if b.size < need:
        b = np.concatenate([b, np.zeros(need - b.size, np.uint8)])
    w = (1 << np.arange(bits - 1, -1, -1)).astype(np.int64)
    return (b[:need].reshape(count, bits).astype(np.int64) * w).sum(1)


def repeat(data: bytes, r: int) -> bytes:
    return bytes(data) * r


def combine(data: bytes, byte_ok: np.ndarray | None, llr: np.ndarray | None, r: int, size: int) -> tuple[bytes, float]:
    """Combine ``r`` received copies of a ``size``-byte block -> (bytes, fraction of bytes taken
    from a CRC-checked copy). Never raises: a short part is zero-padded (and counts as unchecked)."""
    out, frac, _ = combine_soft(data, byte_ok, llr, r, size)
    return out, frac


def combine_soft(data: bytes, byte_ok: np.ndarray | None, llr: np.ndarray | None, r: int,
                 size: int) -> tuple[bytes, float, np.ndarray]:
    """:func:`combine` and, per combined bit, the probability that it is wrong.

    Returns:
        (bytes, fraction of bytes taken from a CRC-checked copy, bit_error float64 [8 * size]):
        ``bit_error`` is 0 for a byte taken from a CRC-checked copy, ``1 / (1 + exp(|sum of the
        copies' channel LLRs|))`` for an unchecked byte with LLRs (the posterior error
        probability of the combined decision, copies independent), and 0.5 (nothing known) for an
        unchecked byte without LLRs (a bitwise majority of the decoded copies).
    """
    total = r * size
    buf = np.frombuffer(bytes(data), np.uint8)[:total]
    ok = np.zeros(total, bool)
    if byte_ok is not None:
        bo = np.asarray(byte_ok, bool)[:total]
        ok[: bo.size] = bo
    if buf.size < total:
        buf = np.concatenate([buf, np.zeros(total - buf.size, np.uint8)])
    copies, okc = buf.reshape(r, size), ok.reshape(r, size)
    any_ok = okc.any(0)
    first_ok = okc.argmax(0)
    out = copies[first_ok, np.arange(size)].copy()
    bit_error = np.zeros((size, 8))
    bad = ~any_ok
    if bad.any():
        if llr is not None and np.asarray(llr).size >= 8 * total:
            L = np.nan_to_num(np.asarray(llr, np.float64)[: 8 * total].reshape(r, size, 8), posinf=50, neginf=-50)
            s = L[:, bad].sum(0)
            bits = (s > 0).astype(np.uint8)
            bit_error[bad] = 1.0 / (1.0 + np.exp(np.minimum(np.abs(s), 700.0)))
        else:
            cb = np.unpackbits(copies[:, bad], axis=1).reshape(r, -1)
            bits = (2 * cb.sum(0) > r).astype(np.uint8)
            if r % 2 == 0:  # ties: the first copy
                tie = 2 * cb.sum(0) == r
                bits[tie] = cb[0, tie]
            bit_error[bad] = 0.5
        out[bad] = np.packbits(bits.reshape(-1, 8), axis=1).reshape(-1)
    return out.tobytes(), float(any_ok.mean()) if size else 1.0, bit_error.reshape(-1)


def bcr_eq19(n: int, h: int, w: int, l_eta: int, b: int, l_s: int, m: int) -> float:
    """Eq. 19: (N + L_eta B + L_s (M - 1)) / (3 H W 8 N)."""
    return (n + l_eta * b + l_s * (m - 1)) / (3 * h * w * 8 * n)
