"""Ideal link: a capacity-achieving code over the channel, as in the explicit-semantic-base paper.

Model (Seb paper, eqs. (11)-(12)): a source with ``bpp`` bits per pixel is sent over ``CBR``
channel uses per source symbol (``H x W x 3`` source symbols per image). The channel code rate
needed per channel use is ``R = bpp / (3 CBR)`` bits; the AWGN capacity is
``C = log2(1 + SNR)`` bits per complex channel use, with SNR the linear Es/N0. Transmission is
error-free iff ``R <= C``; otherwise it is an *outage* and nothing is delivered.

Inverting: the largest bpp a given SNR and CBR can carry is ``bpp_max = 3 CBR log2(1 + SNR)``,
and the SNR needed for a given bpp is ``SNR_min = 2**(bpp / (3 CBR)) - 1``.

For fading channels the same rule is applied per transmission with the instantaneous SNR
``|h|^2 SNR`` when ``fading="rayleigh"`` (block fading over the whole payload).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from semlink.errors import ConfigError


def capacity_awgn(snr_db: float) -> float:
    """AWGN capacity [bits per complex channel use] at Es/N0 ``snr_db`` [dB]."""
    return math.log2(1.0 + 10 ** (snr_db / 10.0))


def max_bpp(snr_db: float, cbr: float) -> float:
    """Largest bits per pixel an ideal link carries at ``snr_db`` [dB] and ``cbr`` (eq. (11) inverted)."""
    return 3.0 * cbr * capacity_awgn(snr_db)


def required_snr_db(bpp: float, cbr: float) -> float:
    """Smallest Es/N0 [dB] at which ``bpp`` fits into ``cbr`` (eq. (12))."""
    r = bpp / (3.0 * cbr)
    return 10 * math.log10(2.0**r - 1.0) if r > 0 else -math.inf


@dataclass
class IdealResult:
    """Outcome of one ideal transmission. ``payload`` is the input when delivered, else zeros."""

    payload: bytes
    delivered: bool
    rate: float  # bits per channel use needed
    capacity: float  # bits per channel use available (instantaneous)
    channel_uses: int

    @property
    def packet_ok(self) -> np.ndarray:
        return np.array([self.delivered]) if self.payload else np.zeros(0, dtype=bool)


class IdealLink:
    """Capacity-achieving link with a fixed channel budget.

    Args:
        cbr: channel uses per source symbol (the paper uses 1/30).
        fading: ``"awgn"`` (default) or ``"rayleigh"`` (block fading, one coefficient per payload).
    """

    def __init__(self, cbr: float, fading: str = "awgn"):
        if not (isinstance(cbr, (int, float)) and cbr > 0):
            raise ConfigError(f"cbr must be a positive number of channel uses per source symbol, got {cbr!r}")
        if fading not in ("awgn", "rayleigh"):
            raise ConfigError(f"fading={fading!r} is not allowed; choose 'awgn' or 'rayleigh'")
        self.cbr = float(cbr)
        self.fading = fading

    def channel_uses(self, num_source_symbols: int) -> int:
        """Channel uses granted to a source of ``num_source_symbols`` (H x W x 3) symbols."""
        return int(math.floor(self.cbr * num_source_symbols))

    def transmit(self, payload: bytes, snr_db: float, rng: np.random.Generator, num_source_symbols: int) -> IdealResult:
        """Deliver ``payload`` error-free iff ``8 len(payload) / channel_uses <= log2(1 + SNR)``."""
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise ValueError(f"payload must be bytes-like, got {type(payload).__name__}")
        if num_source_symbols <= 0:
            raise ValueError(f"num_source_symbols must be positive, got {num_source_symbols!r}")
        payload = bytes(payload)
        uses = self.channel_uses(num_source_symbols)
        snr = 10 ** (float(snr_db) / 10)
        if self.fading == "rayleigh":
            h2 = float(rng.exponential(1.0))
            snr *= h2
        cap = math.log2(1 + snr)
        rate = 8 * len(payload) / uses if uses else math.inf
        ok = rate <= cap
        return IdealResult(payload if ok else bytes(len(payload)), ok, rate, cap, uses)
