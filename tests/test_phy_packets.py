"""Packetization: CRC flags corruption, exact byte counts."""

import numpy as np
import pytest

from semlink.phy import packets as pk


@pytest.mark.parametrize("nbytes", [0, 1, 238, 239, 240, 1000, 4781])
def test_packets_round_trip(nbytes):
    rng = np.random.default_rng(nbytes)
    payload = rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    lay = pk.layout(nbytes, 486, 4)
    assert int(lay.lengths.sum()) == nbytes
    bits = pk.packets_to_bits(payload, lay, 0, lay.num_packets)
    assert bits.shape == (lay.num_codewords, 486)
    bodies, ok = pk.bits_to_packets(bits, lay, 0, lay.num_packets)
    assert b"".join(bodies) == payload
    assert ok.all() and ok.size == lay.num_packets


def test_crc_flags_a_single_bit_flip():
    payload = bytes(range(256)) * 4
    lay = pk.layout(len(payload), 486, 4)
    bits = pk.packets_to_bits(payload, lay, 0, lay.num_packets)
    bits[5, 17] ^= 1  # a bit of packet 1 (codewords 4..7)
    _, ok = pk.bits_to_packets(bits, lay, 0, lay.num_packets)
    assert ok.tolist() == [True, False] + [True] * (lay.num_packets - 2)


def test_packet_too_small_is_rejected():
    with pytest.raises(ValueError, match="codewords_per_packet"):
        pk.layout(10, k=16, codewords_per_packet=1)
