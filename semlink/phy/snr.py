"""The one SNR definition of semlink, and conversions.

Definition (used everywhere: links, sweeps, plots)::

    snr_db = Es/N0 per resource element, in dB

where Es is the average energy of a data *resource element* (all constellations are normalised
to unit average energy, so Es = 1) and N0 is the complex noise variance per resource element
after the (unitary) FFT. Hence the noise variance handed to the channel is
``no = 10 ** (-snr_db / 10)`` (linear). Pilots have unit energy as well; guard carriers, the DC
carrier and the cyclic prefix carry no noise-free energy and are not part of the definition.

Eb/N0 is the energy per *information* bit::

    Eb/N0 = Es/N0 - 10 log10(bits_per_symbol * code_rate)     [dB]

(payload overheads such as CRC, padding and pilots are not folded in; pass ``overhead`` to
include them, as the ratio information bits / payload-carrying bits, e.g. 1 - crc_share).
"""

from __future__ import annotations

import numpy as np

from semlink.errors import ConfigError


def esno_db_to_no(esno_db: float | np.ndarray) -> float | np.ndarray:
    """Es/N0 [dB] -> linear complex noise variance per resource element (unit-energy symbols)."""
    return np.power(10.0, -np.asarray(esno_db, dtype=float) / 10.0)


def ebno_db_to_esno_db(ebno_db, bits_per_symbol: int, code_rate: float = 1.0, overhead: float = 1.0):
    """Eb/N0 [dB] -> Es/N0 [dB] for ``bits_per_symbol`` coded bits per symbol at ``code_rate``."""
    _check(bits_per_symbol, code_rate, overhead)
    return np.asarray(ebno_db, dtype=float) + 10 * np.log10(bits_per_symbol * code_rate * overhead)


def esno_db_to_ebno_db(esno_db, bits_per_symbol: int, code_rate: float = 1.0, overhead: float = 1.0):
    """Es/N0 [dB] -> Eb/N0 [dB] (inverse of :func:`ebno_db_to_esno_db`)."""
    _check(bits_per_symbol, code_rate, overhead)
    return np.asarray(esno_db, dtype=float) - 10 * np.log10(bits_per_symbol * code_rate * overhead)


def _check(bits_per_symbol, code_rate, overhead):
    if bits_per_symbol <= 0:
        raise ConfigError(f"bits_per_symbol must be positive, got {bits_per_symbol!r}")
    if not 0 < code_rate <= 1:
        raise ConfigError(f"code_rate must be in (0, 1], got {code_rate!r}")
    if not 0 < overhead <= 1:
        raise ConfigError(f"overhead must be in (0, 1], got {overhead!r}")
