"""The one codec interface shared by classical and learned, image and video codecs.

Data flow (see DESIGN.md)::

    enc = codec.encode(item, bpp=0.3)          # -> Encoded: named byte parts (all of them cross the link)
    received = link.transmit(...)              # bytes per part + per-packet ok flags
    rec = codec.decode(dataclasses.replace(enc, parts=received_parts, part_ok=flags))
    rec.image / rec.frames, rec.decoded_ok, rec.reason

Bit accounting: everything the decoder reads from the channel is in ``Encoded.parts``
(including the codec's own header, as part ``"header"`` where the codec has one).
``Encoded.num_bits`` is the sum over all parts. ``Encoded.shape`` is *not* transmitted:
it is the shape of the source item, used only to size a concealed reconstruction when the
stream cannot be decoded (so that metrics can still be computed against the original).
``Encoded.info`` holds encoder-side facts for the results table (e.g. the quality parameter
rate control settled on); decoders must not read it.
"""

from __future__ import annotations

import abc
import re
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Kind = Literal["image", "video"]
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@dataclass(frozen=True)
class Encoded:
    """A coded item: named byte parts plus bookkeeping.

    Attributes:
        codec: registry name of the codec that produced it.
        kind: ``"image"`` or ``"video"``.
        shape: shape of the source item, ``(H, W, 3)`` or ``(T, H, W, 3)``; not transmitted.
        parts: part name -> bytes. Everything that crosses the link.
        part_ok: after transmission, part name -> bool array [num_packets] of per-packet CRC
            status (``None`` before transmission / when unknown: decoders then assume all ok).
        info: encoder-side facts for results (e.g. ``{"quality": 31}``); never read by ``decode``.
    """

    codec: str
    kind: Kind
    shape: tuple[int, ...]
    parts: dict[str, bytes]
    part_ok: dict[str, np.ndarray] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_bytes(self) -> int:
        """All transmitted bytes (every part, header included)."""
        return sum(len(b) for b in self.parts.values())

    @property
    def num_bits(self) -> int:
        """All transmitted bits (every part, header included)."""
        return 8 * self.num_bytes

    def bits_per_part(self) -> dict[str, int]:
        """Transmitted bits of each part."""
        return {k: 8 * len(v) for k, v in self.parts.items()}

    def with_received(self, parts: dict[str, bytes], part_ok: dict[str, np.ndarray] | None = None) -> "Encoded":
        """Copy with the parts (and ok flags) as they came out of the channel."""
        return dataclasses.replace(self, parts=dict(parts), part_ok=part_ok)


@dataclass(frozen=True)
class Reconstruction:
    """A decoded item.

    Attributes:
        data: uint8 [H, W, 3] (image) or [T, H, W, 3] (video); always the source shape.
        decoded_ok: False when the decoder failed and ``data`` is a concealment.
        reason: why decoding failed ("" when it did not).
    """

    data: np.ndarray
    decoded_ok: bool = True
    reason: str = ""

    def __post_init__(self):
        # Library messages often embed object addresses ("<BytesIO at 0x7f..>"): drop them so the
        # same failure gives the same reason in every run (results must be reproducible).
        if self.reason:
            object.__setattr__(self, "reason", _ADDRESS.sub("", self.reason))

    @property
    def image(self) -> np.ndarray:
        return self.data

    @property
    def frames(self) -> np.ndarray:
        return self.data


class Codec(abc.ABC):
    """Base class of every codec. Subclasses are registered with :func:`register_codec`."""

    name: str = ""
    kind: Kind = "image"

    @abc.abstractmethod
    def encode(self, item: np.ndarray, **rate: Any) -> Encoded:
        """Code ``item`` at a rate point given as keyword (``bpp=``, ``quality=``, ``bitrate=``, ``bcr=``)."""

    @abc.abstractmethod
    def decode(self, received: Encoded) -> Reconstruction:
        """Decode; must never raise on corrupted parts (returns a concealment instead)."""

    def rate_points(self) -> list[Any]:
        """Native quality points, low to high rate (used by sweeps that list no rate)."""
        return []
