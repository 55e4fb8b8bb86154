"""What the link returns for one part: :class:`ReceivedPart` (bytes, packet layout, CRC flags, LLRs).

Every part of a coded item crosses the link as its own payload in CRC-32 packets. The receiver
returns exactly as many bytes as were sent (bytes of lost packets as the LDPC decoder left them,
possibly wrong), the byte range and CRC status of each packet and, when asked, the channel LLRs
of every payload bit (Sionna's convention ``log P(bit=1) / P(bit=0)``, float32, in the order of
``np.unpackbits(data)``; +-inf for a part an ideal link delivered, 0 for a lost one).
:class:`semlink.codecs.Received` groups the parts of one item for its decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class PacketFlags:
    """Views of the per-packet CRC flags ``packet_ok`` (bool [P]) shared by every record of them."""

    packet_ok: np.ndarray

    @property
    def num_packets(self) -> int:
        return int(self.packet_ok.size)

    @property
    def packets_lost(self) -> int:
        return int((~self.packet_ok).sum())

    @property
    def ok(self) -> bool:
        """True when every packet passed its CRC (no packet: True)."""
        return bool(self.packet_ok.all())


@dataclass(frozen=True)
class ReceivedPart(PacketFlags):
    """One part as it came out of the link.

    Attributes:
        data: received bytes, ``len(data)`` == bytes sent.
        packet_ok: bool [P], CRC status of each packet.
        packet_starts: int64 [P], first byte of each packet in ``data``.
        packet_lengths: int64 [P], payload bytes of each packet.
        llr: float32 [8 * len(data)] channel LLRs of the payload bits, or None when not requested.
    """

    data: bytes
    packet_ok: np.ndarray
    packet_starts: np.ndarray
    packet_lengths: np.ndarray
    llr: np.ndarray | None = None

    def __post_init__(self):
        ok = np.asarray(self.packet_ok, dtype=bool).reshape(-1)
        starts = np.asarray(self.packet_starts, dtype=np.int64).reshape(-1)
        lengths = np.asarray(self.packet_lengths, dtype=np.int64).reshape(-1)
        if not (ok.size == starts.size == lengths.size):
            raise ValueError(f"packet_ok, packet_starts, packet_lengths differ in size: {ok.size}, {starts.size}, {lengths.size}")
        if int(lengths.sum()) != len(self.data):
            raise ValueError(f"packets cover {int(lengths.sum())} bytes but data has {len(self.data)}")
        object.__setattr__(self, "data", bytes(self.data))
        object.__setattr__(self, "packet_ok", ok)
        object.__setattr__(self, "packet_starts", starts)
        object.__setattr__(self, "packet_lengths", lengths)
        if self.llr is not None:
            llr = np.asarray(self.llr, dtype=np.float32).reshape(-1)
            if llr.size != 8 * len(self.data):
                raise ValueError(f"llr has {llr.size} values, expected 8 * {len(self.data)}")
            object.__setattr__(self, "llr", llr)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def intact(cls, data: bytes, with_llr: bool = False) -> "ReceivedPart":
        """A part that arrived error-free, as one packet (no packet for an empty part)."""
        n = len(data)
        llr = None
        if with_llr:
            bits = np.unpackbits(np.frombuffer(bytes(data), np.uint8))
            llr = np.where(bits == 1, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
        if n == 0:
            return cls(b"", np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0, np.int64), llr)
        return cls(bytes(data), np.ones(1, bool), np.zeros(1, np.int64), np.array([n], np.int64), llr)

    @classmethod
    def lost(cls, num_bytes: int, with_llr: bool = False) -> "ReceivedPart":
        """A part that was lost whole (zeros, one failed packet; LLRs 0 = no information)."""
        llr = np.zeros(8 * num_bytes, np.float32) if with_llr else None
        if num_bytes == 0:
            return cls(b"", np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0, np.int64), llr)
        return cls(bytes(num_bytes), np.zeros(1, bool), np.zeros(1, np.int64), np.array([num_bytes], np.int64), llr)

    # ------------------------------------------------------------------ views
    def byte_ok(self) -> np.ndarray:
        """bool [len(data)]: True for bytes inside packets whose CRC passed."""
        return np.repeat(self.packet_ok, self.packet_lengths)

    def intact_prefix(self) -> bytes:
        """The bytes before the first lost packet (all of ``data`` when nothing was lost)."""
        bad = np.flatnonzero(~self.packet_ok)
        if bad.size == 0:
            return self.data
        return self.data[: int(self.packet_starts[bad[0]])]

    def lost_ranges(self) -> list[tuple[int, int]]:
        """Byte ranges ``[start, stop)`` of the lost packets, in order."""
        bad = np.flatnonzero(~self.packet_ok)
        return [(int(self.packet_starts[i]), int(self.packet_starts[i] + self.packet_lengths[i])) for i in bad]
