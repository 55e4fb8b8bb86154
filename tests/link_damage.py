"""Test helpers: a part damaged as the link delivers it, and a reconstruction's PSNR over mid-grey."""

from __future__ import annotations

import math

import numpy as np

from semlink.codecs import ReceivedPart


def link_damage(data: bytes, rng, p: float = 0.25, packet: int = 60) -> ReceivedPart:
    """As the link delivers a part: packets of ``packet`` bytes, each lost with probability ``p``
    (CRC failed, a few bits wrong as the LDPC decoder left them)."""
    if not data:
        return ReceivedPart.intact(data)
    starts = np.arange(0, len(data), packet)
    lengths = np.minimum(packet, len(data) - starts)
    ok = rng.random(len(starts)) >= p
    b = bytearray(data)
    for s0, n, good in zip(starts, lengths, ok):
        if not good:
            for _ in range(1 + int(rng.integers(4))):
                b[s0 + int(rng.integers(n))] ^= 1 << int(rng.integers(8))
    return ReceivedPart(bytes(b), ok, starts, lengths)


def db_over_grey(rec: np.ndarray, img: np.ndarray) -> float:
    """PSNR [dB] of ``rec`` minus that of a mid-grey image, both against ``img`` (uint8 [H, W, 3])."""
    def psnr(a):
        return 10 * math.log10(255.0**2 / max(float(((a.astype(float) - img) ** 2).mean()), 1e-9))

    return psnr(rec) - psnr(np.full_like(img, 128))
