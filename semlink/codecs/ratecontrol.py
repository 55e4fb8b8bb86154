"""Rate control by search over a codec's native quality parameter.

Integer quality scales (JPEG, WebP, HEIC): :func:`highest_quality_within` bisects for the
highest quality whose size does not exceed the target (rate grows with quality, which holds
for these encoders up to rare one-step inversions). Continuous parameters (JPEG 2000's
compression ratio, x264/x265 CRF): :func:`bisect_continuous`.

Every returned result carries the achieved size, so callers report the actual rate and
whether it is within tolerance of the target (default 5 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

#: Relative tolerance for "rate control landed on the target".
RATE_TOLERANCE = 0.05


@dataclass(frozen=True)
class RatePoint:
    """One trial encoding: native parameter, output, its size in bits."""

    param: float
    output: Any
    bits: int


def highest_quality_within(
    encode: Callable[[int], tuple[Any, int]], lo: int, hi: int, target_bits: float
) -> tuple[RatePoint, bool]:
    """Highest integer quality in [lo, hi] whose size <= ``target_bits``.

    Args:
        encode: quality -> (output, size in bits); size must grow with quality.
    Returns:
        (point, met): ``met`` is False when even ``lo`` exceeds the target; the lowest-rate
        point (quality ``lo``) is then returned as the nearest achievable one.
    """
    cache: dict[int, RatePoint] = {}

    def trial(q: int) -> RatePoint:
        if q not in cache:
            out, bits = encode(q)
            cache[q] = RatePoint(q, out, bits)
        return cache[q]

    if trial(lo).bits > target_bits:
        return trial(lo), False
    if trial(hi).bits <= target_bits:
        return trial(hi), True
    a, b = lo, hi  # invariant: bits(a) <= target < bits(b)
    while b - a > 1:
        m = (a + b) // 2
        if trial(m).bits <= target_bits:
            a = m
        else:
            b = m
    return trial(a), True


def bisect_continuous(
    encode: Callable[[float], tuple[Any, int]],
    lo: float,
    hi: float,
    target_bits: float,
    *,
    increasing: bool,
    log_scale: bool = False,
    tol: float = RATE_TOLERANCE,
    max_iter: int = 12,
) -> tuple[RatePoint, bool]:
    """Bisect a continuous parameter in [lo, hi] until the size is within ``tol`` of the target.

    Args:
        increasing: True when size grows with the parameter (e.g. target bpp), False when it
            shrinks (e.g. CRF, compression ratio).
        log_scale: bisect in log(param) (for ratios spanning decades).
    Returns:
        (point, met): the trial closest to the target among those not above it (else the
        lowest-rate trial) and whether it lies within ``tol``.
    """
    f = math.log if log_scale else (lambda x: x)
    finv = math.exp if log_scale else (lambda x: x)
    trials: list[RatePoint] = []
    a, b = f(lo), f(hi)
    for _ in range(max_iter):
        m = 0.5 * (a + b)
        out, bits = encode(finv(m))
        trials.append(RatePoint(finv(m), out, bits))
        if abs(bits - target_bits) <= tol * target_bits:
            return trials[-1], True
        too_big = bits > target_bits
        if too_big == increasing:
            b = m
        else:
            a = m
    return best_of(trials, target_bits, tol)


def best_of(trials: list[RatePoint], target_bits: float, tol: float = RATE_TOLERANCE) -> tuple[RatePoint, bool]:
    """Nearest trial to the target: within tolerance if any, else largest not above, else smallest."""
    within = [t for t in trials if abs(t.bits - target_bits) <= tol * target_bits]
    if within:
        return min(within, key=lambda t: abs(t.bits - target_bits)), True
    under = [t for t in trials if t.bits <= target_bits]
    if under:
        return max(under, key=lambda t: t.bits), False
    return min(trials, key=lambda t: t.bits), False
