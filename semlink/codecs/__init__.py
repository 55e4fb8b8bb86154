"""Codecs: one interface (:mod:`.base`) and a registry of classical and learned codecs.

>>> from semlink.codecs import get_codec, list_codecs
>>> codec = get_codec("jpeg2000")
>>> enc = codec.encode(image, bpp=0.3)        # image: uint8 [H, W, 3]
>>> rec = codec.decode(enc)                    # rec.image, rec.decoded_ok, rec.reason
"""

from .base import Codec, Encoded, Reconstruction
from .registry import get_codec, list_codecs, register_codec

# Importing the modules registers their codecs.
from . import pillow_codecs, jpeg2000, heic, video, hyperprior  # noqa: E402,F401  isort:skip

__all__ = ["Codec", "Encoded", "Reconstruction", "get_codec", "list_codecs", "register_codec"]
