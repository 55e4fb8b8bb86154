"""Common machinery of the still-image codecs: rate selection, bit accounting, safe decoding.

A concrete image codec supplies four things: its native quality range, ``_encode_bytes``
(quality -> self-describing byte stream), ``_peek_size`` (header-only read of the coded
width/height) and ``_decode_bytes`` (byte stream -> array). Everything else — choosing the
quality for a ``bpp=`` target, counting bits, and turning every decoder failure into a
mid-grey concealment — lives here once.

Transmitted parts: a single part ``"codestream"``. The byte streams used are self-describing
(JPEG/J2K codestreams, WebP RIFF, HEIF file), so there is no separate header part; all their
header/container bytes are counted in ``num_bits``. The per-packet CRC flags are not
used: a classical decoder gets the received bytes as they are and conceals with the
library's own error handling.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from ._util import check_context, fit_to_shape, grey, one_rate, to_rgb_uint8, validate_image
from .base import Codec, Encoded, Reconstruction
from .received import Received
from .ratecontrol import highest_quality_within

#: A coded header may announce at most this many times the expected pixel count before the
#: decoder refuses to run (guards against decompression bombs from corrupted headers).
MAX_PIXEL_RATIO = 4.0

PART = "codestream"


class ImageCodec(Codec):
    """Base of byte-stream image codecs with an integer quality scale ``[q_min, q_max]``."""

    kind = "image"
    rate_keys = ("bpp", "quality")
    q_min: int = 1
    q_max: int = 100
    default_quality: int = 75
    #: Native quality points (low -> high rate) for sweeps that give no rate.
    points: tuple[int, ...] = ()

    # --- to implement -------------------------------------------------------------------
    @abc.abstractmethod
    def _encode_bytes(self, image: np.ndarray, quality: float) -> bytes:
        """uint8 [H, W, 3] -> self-describing byte stream at native ``quality``."""

    @abc.abstractmethod
    def _peek_size(self, data: bytes) -> tuple[int, int]:
        """(width, height) announced by the stream's header, without decoding pixels."""

    @abc.abstractmethod
    def _decode_bytes(self, data: bytes) -> tuple[np.ndarray, str]:
        """Byte stream -> (decoded array of any channel count / 8 or 16 bit, note); may raise.

        ``note`` is "" for a clean decode, else why the output is only partial (e.g. the
        library's concealment of a truncated stream); partial output is returned with
        ``decoded_ok=False`` and the note as reason.
        """

    @abc.abstractmethod
    def tool(self) -> str:
        """External library and version, e.g. ``"libjpeg-turbo 3.0 via Pillow 11.0"``."""

    # --- shared -------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Constructor options worth recording in ``Encoded.info`` (e.g. chroma format)."""
        return {}

    def rate_points(self) -> list[Any]:
        return list(self.points)

    def part_names(self) -> tuple[str, ...]:
        return (PART,)

    def _check_quality(self, q: float) -> int:
        if not (self.q_min <= q <= self.q_max) or int(q) != q:
            raise ValueError(f"{self.name}: quality must be an integer in [{self.q_min}, {self.q_max}], got {q!r}")
        return int(q)

    def encode(self, item: np.ndarray, *, bpp: float | None = None, quality: float | None = None, **extra: Any) -> Encoded:
        """Code an image.

        Args:
            item: uint8 [H, W, 3].
            bpp: target bits per pixel (all transmitted bits / (H*W)); the highest quality
                whose rate does not exceed it is used (nearest achievable point if even the
                lowest quality exceeds it; ``info["target_met"]`` says which).
            quality: native quality instead of ``bpp``.
            extra: context the runner may pass to every codec (``snr_db``, ``channel_state``);
                ignored here. Any other keyword is a ValueError.
        """
        check_context(extra)
        image = validate_image(item)
        key, value = one_rate({"bpp": bpp, "quality": quality}, ("bpp", "quality"))
        h, w, _ = image.shape
        info: dict[str, Any] = {"tool": self.tool()}
        if key == "bpp":
            q, data, met = self._at_bpp(image, value)
            info.update(target_bpp=value, target_met=met)
        else:
            q = self._check_quality(self.default_quality if value is None else value)
            data = self._encode_bytes(image, q)
        info.update(quality=q, bpp=8 * len(data) / (h * w), **self.settings())
        return Encoded(codec=self.name, kind="image", shape=image.shape, parts={PART: data}, info=info)

    def _at_bpp(self, image: np.ndarray, bpp: float) -> tuple[Any, bytes, bool]:
        """``(quality, bytes, target met)`` for a target of ``bpp`` bits per pixel: the highest
        integer quality whose stream fits (codecs with a continuous quality override this)."""
        h, w, _ = image.shape
        point, met = highest_quality_within(lambda q: self._sized(image, q), self.q_min, self.q_max, bpp * h * w)
        return int(point.param), point.output, met

    def _sized(self, image: np.ndarray, q: float) -> tuple[bytes, int]:
        data = self._encode_bytes(image, q)
        return data, 8 * len(data)

    #: "decode": the library decodes the received bytes with its own error handling;
    #: "conceal": any lost packet -> mid-grey (the common literature baseline)
    on_loss: str = "decode"

    def decode(self, received: Received) -> Reconstruction:
        """Decode; never raises. Failure -> mid-grey image, ``decoded_ok=False``, reason."""
        rec = self._decode_received(received)
        part = received.packets.get(PART)
        if part is not None and not part.ok and rec.recovered is None:  # damaged and not decodable at all
            return Reconstruction(rec.data, False, rec.reason, recovered=0.0)
        return rec

    def _decode_received(self, received: Received) -> Reconstruction:
        shape = tuple(received.shape)
        data = received.parts.get(PART, b"")
        if not data:
            return Reconstruction(grey(shape), False, "empty codestream")
        part = received.packets.get(PART)
        if self.on_loss == "conceal" and part is not None and not part.ok:
            return Reconstruction(grey(shape), False, f"concealed: {part.packets_lost} of {part.num_packets} packets lost",
                                  recovered=0.0)
        h, w = shape[0], shape[1]
        try:
            cw, ch = self._peek_size(data)
        except Exception as exc:  # noqa: BLE001 - any library error is a failed decode
            return Reconstruction(grey(shape), False, f"unreadable header: {type(exc).__name__}: {exc}")
        if cw <= 0 or ch <= 0 or cw * ch > MAX_PIXEL_RATIO * w * h:
            return Reconstruction(grey(shape), False, f"header announces {cw}x{ch}, expected {w}x{h}; not decoded")
        try:
            raw, note = self._decode_bytes(data)
            arr = to_rgb_uint8(raw)
        except Exception as exc:  # noqa: BLE001
            return Reconstruction(grey(shape), False, f"decode failed: {type(exc).__name__}: {exc}")
        if arr.shape != shape:
            return Reconstruction(fit_to_shape(arr, shape), False, f"decoded size {arr.shape} != source {shape}")
        if part is not None and not part.ok:  # on_loss="decode": the library decoded a damaged stream
            why = f"{part.packets_lost} of {part.num_packets} packets lost; decoded the damaged stream"
            return Reconstruction(arr, False, why + (f"; {note}" if note else ""),
                                  recovered=float(part.byte_ok().mean()))
        return Reconstruction(arr, not note, note)
