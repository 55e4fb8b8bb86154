"""Codecs: one interface (:mod:`.base`) and a registry of classical and learned codecs.

>>> from semlink.codecs import get_codec, list_codecs
>>> codec = get_codec("jpeg2000")
>>> enc = codec.encode(image, bpp=0.3)        # image: uint8 [H, W, 3]
>>> rec = codec.decode(enc)                    # no channel; over a link: codec.decode(received)
"""

from .base import ChannelState, Codec, DecodeError, Encoded, EncodedSet, Reconstruction, ReceivedSet, SetCodec, strict_decoding
from .received import Received, ReceivedPart, as_received
from .registry import codec_class, get_codec, list_codecs, register_codec

# Importing the modules registers their codecs.
from . import pillow_codecs, jpeg2000, heic, video, hyperprior  # noqa: E402,F401  isort:skip

__all__ = [
    "ChannelState", "Codec", "Encoded", "EncodedSet", "Received", "ReceivedPart", "ReceivedSet", "Reconstruction",
    "SetCodec", "DecodeError", "as_received", "codec_class", "get_codec", "list_codecs", "register_codec",
    "strict_decoding",
]
