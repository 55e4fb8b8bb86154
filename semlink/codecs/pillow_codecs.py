"""JPEG, WebP and PNG through Pillow (libjpeg-turbo, libwebp, zlib).

- ``jpeg``: baseline JPEG, Huffman tables optimised (``optimize=True``), 4:2:0 chroma by
  default (``subsampling="4:4:4"`` / ``"4:2:2"`` selectable); quality 1..100.
- ``webp``: lossy WebP (VP8 intra), ``method=6`` (slowest, best); quality 0..100.
- ``png``: lossless reference (zlib level 9); has no rate parameter.

Decoding: Pillow reads the header first (size checked against the source before any pixel is
decoded). A truncated JPEG is decoded as far as the data goes (libjpeg fills the rest): that
partial image is returned with ``decoded_ok=False`` and reason ``"partial: ..."``.
"""

from __future__ import annotations

import io
import threading
import warnings
from contextlib import contextmanager
from typing import Iterator

import numpy as np
from PIL import Image, ImageFile, features

import PIL

from ._util import check_on_loss
from .image_base import ImageCodec
from .registry import register_codec

_TRUNCATED_LOCK = threading.Lock()


@contextmanager
def _allow_truncated() -> Iterator[None]:
    """Temporarily let Pillow return the decodable part of a truncated file."""
    with _TRUNCATED_LOCK:
        old = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = old


def pillow_peek_size(data: bytes, fmt: str) -> tuple[int, int]:
    """(width, height) from the header only; raises if it is not a ``fmt`` stream.

    Pillow's decompression-bomb warning is silenced here: the caller compares the size with
    the expected one and refuses oversized streams itself (Pillow still raises beyond 2x its
    ``MAX_IMAGE_PIXELS``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            return im.size


def pillow_decode(data: bytes, fmt: str) -> tuple[np.ndarray, str]:
    """Decode with Pillow; on a truncated stream retry returning the partial image."""
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            return np.asarray(im.convert("RGB")), ""
    except OSError as exc:
        if "truncated" not in str(exc) and "broken data stream" not in str(exc):
            raise
        with _allow_truncated(), Image.open(io.BytesIO(data), formats=[fmt]) as im:
            return np.asarray(im.convert("RGB")), f"partial: {exc}"


def pillow_tool(feature: str, lib: str) -> str:
    """``"<lib> <version> via Pillow <version>"`` for a Pillow feature name."""
    return f"{lib} {features.version(feature)} via Pillow {PIL.__version__}"


@register_codec("jpeg")
class JpegCodec(ImageCodec):
    """Baseline JPEG (libjpeg-turbo via Pillow), optimised Huffman tables.

    Args:
        subsampling: chroma subsampling "4:2:0" (default), "4:2:2" or "4:4:4".
    """

    q_min, q_max, default_quality = 1, 100, 75
    points = (5, 10, 20, 30, 50, 75, 90, 95)
    _SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}

    def __init__(self, subsampling: str = "4:2:0", on_loss: str = "decode") -> None:
        self.on_loss = check_on_loss(on_loss)
        if subsampling not in self._SUBSAMPLING:
            raise ValueError(f"subsampling must be one of {list(self._SUBSAMPLING)}, got {subsampling!r}")
        self.subsampling = subsampling

    def settings(self) -> dict:
        return {"subsampling": self.subsampling, "on_loss": self.on_loss,
                "restart_marker_rows": 1 if self.on_loss == "decode" else 0}

    def tool(self) -> str:
        return pillow_tool("libjpeg_turbo", "libjpeg-turbo") if features.check_feature("libjpeg_turbo") else pillow_tool("jpg", "libjpeg")

    def _encode_bytes(self, image: np.ndarray, quality: float) -> bytes:
        buf = io.BytesIO()
        # on_loss="decode": a restart marker after every MCU row, so the decoder resynchronises after
        # a damaged packet (the damage stays in its rows; +0.26 % bits on astronaut at q50)
        rst = {"restart_marker_rows": 1} if self.on_loss == "decode" else {}
        Image.fromarray(image).save(
            buf, format="JPEG", quality=int(quality), optimize=True, subsampling=self._SUBSAMPLING[self.subsampling], **rst
        )
        return buf.getvalue()

    def _peek_size(self, data: bytes) -> tuple[int, int]:
        return pillow_peek_size(data, "JPEG")

    def _decode_bytes(self, data: bytes) -> tuple[np.ndarray, str]:
        return pillow_decode(data, "JPEG")


@register_codec("webp")
class WebpCodec(ImageCodec):
    """Lossy WebP (libwebp via Pillow), ``method=6``.

    Args:
        method: libwebp effort 0 (fast) .. 6 (best, default).
    """

    q_min, q_max, default_quality = 0, 100, 75
    points = (0, 5, 10, 25, 50, 75, 90, 95)

    def __init__(self, method: int = 6, on_loss: str = "decode") -> None:
        self.on_loss = check_on_loss(on_loss)
        if method not in range(7):
            raise ValueError(f"method must be an integer 0..6, got {method!r}")
        self.method = method

    def settings(self) -> dict:
        return {"method": self.method}

    def tool(self) -> str:
        return pillow_tool("webp", "libwebp")

    def _encode_bytes(self, image: np.ndarray, quality: float) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="WEBP", quality=int(quality), method=self.method, lossless=False)
        return buf.getvalue()

    def _peek_size(self, data: bytes) -> tuple[int, int]:
        return pillow_peek_size(data, "WEBP")

    def _decode_bytes(self, data: bytes) -> tuple[np.ndarray, str]:
        return pillow_decode(data, "WEBP")


@register_codec("png")
class PngCodec(ImageCodec):
    """Lossless PNG (zlib via Pillow): the rate reference. ``bpp=`` is not supported."""

    q_min = q_max = default_quality = 9  # zlib level; the "quality" of a lossless codec
    points = (9,)

    def tool(self) -> str:
        return pillow_tool("zlib", "zlib")

    def encode(self, item: np.ndarray, *, bpp: float | None = None, quality: float | None = None, **extra):  # type: ignore[override]
        """Lossless: ``bpp`` targets are rejected (ValueError); ``quality`` must be 9 if given."""
        if bpp is not None:
            raise ValueError("png is lossless and has no rate control; do not pass bpp=")
        return super().encode(item, quality=quality, **extra)

    def _encode_bytes(self, image: np.ndarray, quality: float) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG", compress_level=int(quality), optimize=False)
        return buf.getvalue()

    def _peek_size(self, data: bytes) -> tuple[int, int]:
        return pillow_peek_size(data, "PNG")

    def _decode_bytes(self, data: bytes) -> tuple[np.ndarray, str]:
        return pillow_decode(data, "PNG")
