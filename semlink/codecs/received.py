"""What a decoder gets from the link: :class:`Received` (one item) and :class:`ReceivedPart`.

Every part of an :class:`~semlink.codecs.base.Encoded` crosses the link as its own payload in
CRC-32 packets. The receiver returns, per part, exactly as many bytes as were sent (bytes of
lost packets as the LDPC decoder left them, possibly wrong), the byte range and CRC status of
each packet and, when the codec asks for them (``Codec.wants_llr``), the channel LLRs of every
payload bit. A codec decides what to do with a damaged part: use the damaged bytes (e.g. fixed
length indices), conceal exactly the regions of lost packets (:meth:`ReceivedPart.byte_ok`),
or decode the intact prefix of a progressive stream (:meth:`ReceivedPart.intact_prefix`).

LLR convention (Sionna's): ``llr = log P(bit=1) / P(bit=0)``, float32, one per payload bit in
the order of ``np.unpackbits(data)`` (most significant bit of byte 0 first). They are the
demapper's channel LLRs of the systematic (information) bits, *before* LDPC decoding; the
bytes in ``data`` are the decoder's hard decisions. The ideal link gives +-inf for a
delivered part and 0 (no information) for a lost one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class ReceivedPart:
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
    @property
    def num_packets(self) -> int:
        return int(self.packet_ok.size)

    @property
    def packets_lost(self) -> int:
        return int((~self.packet_ok).sum())

    @property
    def ok(self) -> bool:
        """True when every packet of the part passed its CRC (an empty part is ok)."""
        return bool(self.packet_ok.all())

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


@dataclass(frozen=True)
class Received:
    """One coded item after the link: what ``Codec.decode`` receives.

    Attributes:
        codec: registry name of the codec that produced the stream.
        kind: ``"image"`` or ``"video"``.
        shape: shape of the source item (not transmitted; sizes a concealment).
        packets: part name -> :class:`ReceivedPart`.

    ``received.parts[name]`` is the received bytes of a part (like ``Encoded.parts``);
    ``received.part(name)`` has the packet layout, CRC flags and LLRs.
    """

    codec: str
    kind: str
    shape: tuple[int, ...]
    packets: Mapping[str, ReceivedPart] = field(default_factory=dict)

    @property
    def parts(self) -> dict[str, bytes]:
        """Part name -> received bytes."""
        return {k: p.data for k, p in self.packets.items()}

    @property
    def part_ok(self) -> dict[str, np.ndarray]:
        """Part name -> bool [num_packets] CRC flags."""
        return {k: p.packet_ok for k, p in self.packets.items()}

    def part(self, name: str) -> ReceivedPart:
        """The received part ``name``; KeyError naming the parts if absent."""
        try:
            return self.packets[name]
        except KeyError:
            raise KeyError(f"no part {name!r}; received parts: {sorted(self.packets)}") from None

    def with_part(self, name: str, data: bytes) -> "Received":
        """Copy with part ``name`` replaced by ``data`` as one intact packet (a decoder's repaired stream)."""
        return Received(self.codec, self.kind, self.shape, {**self.packets, name: ReceivedPart.intact(data)})

    @property
    def ok(self) -> bool:
        """True when every packet of every part passed its CRC."""
        return all(p.ok for p in self.packets.values())

    @property
    def packets_lost(self) -> int:
        return sum(p.packets_lost for p in self.packets.values())

    @property
    def num_bits(self) -> int:
        return 8 * sum(len(p.data) for p in self.packets.values())


def as_received(obj: Any, with_llr: bool = False) -> Received:
    """``Received`` as is; an ``Encoded`` (no channel: every part intact) becomes one."""
    if isinstance(obj, Received):
        return obj
    parts = getattr(obj, "parts", None)
    if parts is None or not hasattr(obj, "shape"):
        raise TypeError(f"decode needs a Received (or an Encoded), got {type(obj).__name__}")
    packets = {k: ReceivedPart.intact(v, with_llr) for k, v in parts.items()}
    return Received(getattr(obj, "codec", ""), getattr(obj, "kind", "image"), tuple(obj.shape), packets)
