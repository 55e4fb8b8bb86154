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

from semlink.phy.received import ReceivedPart  # noqa: F401  (what the link returns per part; re-exported)


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
