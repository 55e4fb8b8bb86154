"""Packetization: bytes <-> CRC-protected packets laid over whole channel codewords.

A payload of any length (0 included) is cut into packets. Each packet carries up to
``packet_payload_bytes`` payload bytes followed by a CRC-32 (IEEE 802.3 polynomial, zlib) and
occupies an integer number of codewords (``codewords_per_packet`` for full packets; the last
packet takes just as many codewords as it needs). Unused bits of a packet's last codeword are
zero padding. A packet is "ok" iff its CRC checks after decoding.

The payload length is assumed known to the receiver (in a real system it travels in the PHY
header, e.g. 802.11's SIG field, which is not simulated), so the receiver always returns exactly
as many bytes as were sent. Bytes of failed packets are returned as decoded (possibly wrong);
callers use the per-packet ok flags to conceal them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

CRC_BYTES = 4


@dataclass(frozen=True)
class PacketLayout:
    """Where each packet's bytes and bits lie. All sizes in bytes unless named ``*_bits``.

    Attributes:
        payload_bytes: total payload length.
        k: information bits per codeword.
        starts / lengths: payload byte range of each packet.
        codewords: number of codewords of each packet.
    """

    payload_bytes: int
    k: int
    starts: np.ndarray
    lengths: np.ndarray
    codewords: np.ndarray

    @property
    def num_packets(self) -> int:
        return int(len(self.lengths))

    @property
    def num_codewords(self) -> int:
        return int(self.codewords.sum())


def packet_payload_bytes(k: int, codewords_per_packet: int) -> int:
    """Payload bytes of a full packet: the whole bytes of ``codewords_per_packet`` codewords, minus the CRC."""
    size = (k * codewords_per_packet) // 8 - CRC_BYTES
    if size < 1:
        raise ValueError(
            f"codewords_per_packet={codewords_per_packet} leaves no room for payload with k={k} and a {CRC_BYTES}-byte CRC"
        )
    return size


def layout(payload_bytes: int, k: int, codewords_per_packet: int) -> PacketLayout:
    """Packet layout of a payload of ``payload_bytes`` bytes over codewords of ``k`` information bits."""
    full = packet_payload_bytes(k, codewords_per_packet)
    n_packets = -(-payload_bytes // full)
    starts = np.arange(n_packets, dtype=np.int64) * full
    lengths = np.minimum(full, payload_bytes - starts)
    codewords = -(-(8 * (lengths + CRC_BYTES)) // k)
    return PacketLayout(payload_bytes, k, starts, lengths, codewords.astype(np.int64))


def packets_to_bits(payload: bytes | memoryview, lay: PacketLayout, first: int, last: int) -> np.ndarray:
    """Information bits of packets ``first..last-1``: uint8 [num_codewords, k] (CRC appended, zero padded)."""
    k = lay.k
    cw = lay.codewords[first:last]
    out = np.zeros((int(cw.sum()), k), dtype=np.uint8)
    flat = out.reshape(-1)
    pos = 0
    view = memoryview(payload)
    for p in range(first, last):
        s, ln = int(lay.starts[p]), int(lay.lengths[p])
        body = bytes(view[s : s + ln])
        crc = zlib.crc32(body).to_bytes(4, "big")
        bits = np.unpackbits(np.frombuffer(body + crc, dtype=np.uint8))
        flat[pos : pos + bits.size] = bits
        pos += int(lay.codewords[p]) * k
    return out


def bits_to_packets(bits: np.ndarray, lay: PacketLayout, first: int, last: int) -> tuple[list[bytes], np.ndarray]:
    """Inverse of :func:`packets_to_bits`: decoded bits [num_codewords, k] -> (payload bytes per packet, crc ok [num])."""
    k = lay.k
    flat = np.ascontiguousarray(bits, dtype=np.uint8).reshape(-1)
    pos = 0
    bodies, ok = [], np.zeros(last - first, dtype=bool)
    for i, p in enumerate(range(first, last)):
        ln = int(lay.lengths[p])
        nb = 8 * (ln + CRC_BYTES)
        raw = np.packbits(flat[pos : pos + nb]).tobytes()
        body, crc = raw[:ln], raw[ln:]
        bodies.append(body)
        ok[i] = zlib.crc32(body).to_bytes(4, "big") == crc
        pos += int(lay.codewords[p]) * k
    return bodies, ok


def payload_llrs(info_llr: np.ndarray, lay: PacketLayout, first: int, last: int) -> list[np.ndarray]:
    """LLRs of the payload bits of packets ``first..last-1``, from the LLRs of their codewords'
    information bits float32 [num_codewords, k] (the layout of :func:`packets_to_bits`; CRC and
    padding dropped) -> one float32 [8 * length] array per packet."""
    k = lay.k
    flat = np.ascontiguousarray(info_llr, dtype=np.float32).reshape(-1)
    pos, out = 0, []
    for p in range(first, last):
        nb = 8 * int(lay.lengths[p])
        out.append(flat[pos : pos + nb].copy())
        pos += int(lay.codewords[p]) * k
    return out
