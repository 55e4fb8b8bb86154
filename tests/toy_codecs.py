"""Toy codecs that exercise the codec interfaces; loaded by specs as a plug-in file.

* ``toy-set``: a set codec. Shared part ``mean``: the set's mean image at 1/8 resolution;
  per-image part ``residual``: the image minus that mean at 1/8 resolution (int8, /2).
* ``toy-adaptive``: channel-adaptive JPEG whose quality follows the SNR of the ChannelState.
* ``toy-parts``: fixed-size ``header`` (12 bytes) and ``body`` parts, for unequal protection.
* ``toy-soft``: raw 1/8-resolution pixels; wants LLRs and reconstructs the bytes of lost
  packets as their expected value under the LLRs (soft decoding).

Encode calls are counted per process in ``ENCODE_CALLS`` (tests of the encoding cache).
"""

from __future__ import annotations

import collections
import io

import numpy as np
from PIL import Image

from semlink.codecs import Codec, Encoded, EncodedSet, Reconstruction, SetCodec, register_codec

ENCODE_CALLS: collections.Counter = collections.Counter()
F = 8  # downscale factor


def _small(img: np.ndarray) -> np.ndarray:
    h, w, _ = img.shape
    return np.asarray(Image.fromarray(img).resize((w // F, h // F), Image.BILINEAR)).astype(np.int16)


def _up(small: np.ndarray, shape) -> np.ndarray:
    h, w, _ = shape
    return np.asarray(Image.fromarray(np.clip(small, 0, 255).astype(np.uint8)).resize((w, h), Image.BILINEAR))


@register_codec("toy-set")
class ToySetCodec(SetCodec):
    kind = "image"
    rate_keys = ("quality",)
    shared_part_names = ("mean",)

    def rate_points(self):
        return [1]

    def part_names(self):
        return ("mean", "residual")

    def encode_set(self, items, quality=1, **_):
        ENCODE_CALLS["toy-set"] += 1
        smalls = [_small(x) for x in items]
        if len({s.shape for s in smalls}) != 1:
            raise ValueError("toy-set needs images of one size")
        mean = np.mean(smalls, axis=0).round().astype(np.int16)
        shared = {"mean": mean.astype(np.uint8).tobytes()}
        encs = [Encoded(self.name, "image", x.shape, {"residual": np.clip((s - mean) // 2, -128, 127).astype(np.int8).tobytes()})
                for x, s in zip(items, smalls)]
        return EncodedSet(self.name, shared, tuple(encs), {"set_size": len(items)})

    def decode_set(self, received):
        out = []
        for rx in received.items:
            h, w, _ = rx.shape
            shape = (h // F, w // F, 3)
            mean = np.frombuffer(received.shared_parts["mean"], np.uint8).astype(np.int16).reshape(shape)
            res = np.frombuffer(rx.parts["residual"], np.int8).astype(np.int16).reshape(shape)
            ok = received.shared_ok and rx.ok
            out.append(Reconstruction(_up(mean + 2 * res, rx.shape), ok, "" if ok else "packets lost"))
        return out


@register_codec("toy-adaptive")
class ToyAdaptiveCodec(Codec):
    kind = "image"
    rate_keys = ("quality",)
    channel_adaptive = True

    def rate_points(self):
        return [1]

    def part_names(self):
        return ("jpeg",)

    def encode(self, item, quality=1, channel_state=None):
        ENCODE_CALLS["toy-adaptive"] += 1
        if channel_state is None:
            raise ValueError("toy-adaptive needs a channel_state")
        q = int(np.clip(10 + 3 * channel_state.snr_db, 5, 95))
        buf = io.BytesIO()
        Image.fromarray(item).save(buf, "JPEG", quality=q)
        return Encoded(self.name, "image", item.shape, {"jpeg": buf.getvalue()}, {"jpeg_quality": q})

    def decode(self, received):
        try:
            img = np.asarray(Image.open(io.BytesIO(received.parts["jpeg"])).convert("RGB"))
            if img.shape != tuple(received.shape):
                raise ValueError("size")
            return Reconstruction(img, received.ok, "" if received.ok else "packets lost")
        except Exception as e:  # noqa: BLE001
            return Reconstruction(np.full(received.shape, 128, np.uint8), False, str(e))


@register_codec("toy-parts")
class ToyPartsCodec(Codec):
    kind = "image"
    rate_keys = ("quality",)

    def rate_points(self):
        return [1]

    def part_names(self):
        return ("header", "body")

    def encode(self, item, quality=1):
        small = _small(item).astype(np.uint8)
        return Encoded(self.name, "image", item.shape, {"header": bytes(12), "body": small.tobytes()})

    def decode(self, received):
        h, w, _ = received.shape
        small = np.frombuffer(received.parts["body"], np.uint8).reshape(h // F, w // F, 3)
        return Reconstruction(_up(small, received.shape), received.ok, "")


@register_codec("toy-soft")
class ToySoftCodec(Codec):
    kind = "image"
    rate_keys = ("quality",)
    wants_llr = True

    def rate_points(self):
        return [1]

    def part_names(self):
        return ("pixels",)

    def encode(self, item, quality=1):
        return Encoded(self.name, "image", item.shape, {"pixels": _small(item).astype(np.uint8).tobytes()})

    def decode(self, received):
        part = received.part("pixels")
        if part.llr is None or part.llr.size != 8 * len(part.data):
            raise ValueError("toy-soft expected one LLR per payload bit")
        h, w, _ = received.shape
        px = np.frombuffer(part.data, np.uint8).astype(np.float64)
        # expected byte value under the bit LLRs (log P1/P0), MSB first
        p1 = 1.0 / (1.0 + np.exp(-np.clip(part.llr.astype(np.float64), -50, 50)))
        soft = (p1.reshape(-1, 8) * (2.0 ** np.arange(7, -1, -1))).sum(axis=1)
        bad = ~part.byte_ok()
        px[bad] = soft[bad]
        return Reconstruction(_up(px.round().reshape(h // F, w // F, 3), received.shape), part.ok,
                              "" if part.ok else f"{part.packets_lost} packets soft-decoded")
