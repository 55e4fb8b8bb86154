"""Channel-use arithmetic of the digital link: how many data resource elements a payload takes,
and the largest payload a fixed number of them carries.

A payload of ``L`` bytes becomes CRC-32 packets (:mod:`semlink.phy.packets`) over whole LDPC
codewords of ``k`` information and ``n`` coded bits; the coded bits fill QAM symbols of
``bits_per_symbol`` bits, one per data resource element (RE). So

    data REs(L) = ceil(codewords(L) * n / bits_per_symbol)

where ``codewords(L)`` sums, over the packets, ``ceil(8 (bytes + 4) / k)``. Every part of an
item is packetized on its own, so an item's REs are the sum over its parts. (For the 802.11n
code, n = 648 is a multiple of 2, 4 and 6 bits per symbol: the ceiling never rounds.)
"""

from __future__ import annotations

import math

from semlink.phy import packets as pk
from semlink.phy.codes import parse_code
from semlink.phy.config import MODULATIONS, LinkConfig


def code_dims(config: LinkConfig) -> tuple[int, int]:
    """(k, n) information and coded bits per codeword of the config's code."""
    code = parse_code(config.code)
    return code.k, code.n


def payload_data_symbols(config: LinkConfig, num_bytes: int) -> int:
    """Data REs a payload of ``num_bytes`` bytes occupies (CRC and padding included)."""
    if num_bytes == 0:
        return 0
    k, n = code_dims(config)
    lay = pk.layout(num_bytes, k, config.codewords_per_packet)
    return math.ceil(lay.num_codewords * n / MODULATIONS[config.modulation])


def max_payload_bytes(config: LinkConfig, data_symbols: int) -> int:
    """Largest single-part payload [bytes] whose data REs do not exceed ``data_symbols`` (0 if none fits)."""
    if data_symbols <= 0:
        return 0
    k, n = code_dims(config)
    hi = data_symbols * MODULATIONS[config.modulation] // n * k // 8  # no CRC: an upper bound
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if payload_data_symbols(config, mid) <= data_symbols:
            lo = mid
        else:
            hi = mid - 1
    return lo
