"""Closed-form bit error rates of uncoded Gray-mapped modulations (reference curves and tests).

All functions take the SNR as Es/N0 per symbol in dB (:mod:`semlink.phy.snr`) and return the
bit error probability.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfc


def _q(x):
    return 0.5 * erfc(np.asarray(x) / np.sqrt(2.0))


def ber_awgn(modulation: str, esno_db):
    """Bit error probability over AWGN for Gray ``bpsk``/``qpsk``/``16qam``/``64qam``.

    BPSK/QPSK are exact; square M-QAM uses the nearest-neighbour approximation
    ``4/log2(M) (1 - 1/sqrt(M)) Q(sqrt(3 Es/N0 / (M-1)))`` summed over the first two
    distance terms, accurate to a few percent for BER < 0.1.
    """
    es = 10 ** (np.asarray(esno_db, dtype=float) / 10)
    m = modulation.lower()
    if m == "bpsk":
        return _q(np.sqrt(2 * es))
    if m == "qpsk":
        return _q(np.sqrt(es))  # per bit: Eb = Es/2, BER = Q(sqrt(2 Eb/N0))
    if m in ("16qam", "64qam"):
        big_m = 16 if m == "16qam" else 64
        # exact Gray square-QAM BER (Cho & Yoon 2002) for 16-QAM; first terms for 64-QAM
        d = np.sqrt(3 * es / (big_m - 1))
        if big_m == 16:
            return (1 / 4) * (3 * _q(d) + 2 * _q(3 * d) - _q(5 * d))
        return (1 / 12) * (7 * _q(d) + 6 * _q(3 * d) - _q(5 * d) + _q(9 * d) - _q(13 * d))
    raise ValueError(f"modulation={modulation!r} has no closed form here (bpsk, qpsk, 16qam, 64qam)")


def ber_rayleigh(modulation: str, esno_db):
    """Bit error probability over flat Rayleigh fading with perfect CSI (E|h|^2 = 1).

    BPSK: ``0.5 (1 - sqrt(g / (1 + g)))`` with g = Es/N0; QPSK (Gray) per bit the same with
    g = Es/N0 / 2.
    """
    es = 10 ** (np.asarray(esno_db, dtype=float) / 10)
    m = modulation.lower()
    if m == "bpsk":
        g = es
    elif m == "qpsk":
        g = es / 2
    else:
        raise ValueError(f"modulation={modulation!r} has no Rayleigh closed form here (bpsk, qpsk)")
    return 0.5 * (1 - np.sqrt(g / (1 + g)))
