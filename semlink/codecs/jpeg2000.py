"""JPEG 2000 (OpenJPEG via Pillow), raw J2K codestream (no JP2 box wrapper: saves ~85 bytes).

Rate: OpenJPEG's ``quality_mode="rates"`` with one quality layer; its native parameter is the
compression ratio relative to the 24-bit source, so ``bpp`` maps to ``ratio = 24 / bpp``. The
result is checked against the target (all codestream bytes counted) and, if more than 5 % off,
the ratio is bisected. The COM marker OpenJPEG writes ("Created by OpenJPEG version ...") is
stripped from the main header: it carries no decoding information.

Colour: ``mct=True`` (default) applies the irreversible colour transform (RGB -> YCbCr);
without it every RGB plane is coded independently, about 3 dB worse at equal rate.

What arrives damaged (``on_loss``):

* ``"decode"`` (default): the stream is coded with ``layers`` quality layers (default 4, the
  top at the rate target, each lower one at half the rate), LRCP progression and PLT markers
  (the length of every JPEG 2000 packet, in the tile-part header). The decoder keeps the bytes
  before the first lost link packet, cuts them back to the last complete JPEG 2000 packet,
  patches the tile-part length, appends EOC and decodes: a lower-quality image instead of
  nothing (``Reconstruction.recovered`` = the fraction of the stream used). A damaged main
  header -> mid-grey.
* ``"conceal"``: any lost packet -> mid-grey (the common literature baseline; one layer, no PLT).

Both count every byte (PLT markers included). The resilience tools cost bits at equal quality:
measured on the photos set by ``tests/test_codecs.py`` / the closing note of the baselines work.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np
from PIL import Image

from ._util import check_on_loss, grey
from .base import Reconstruction
from .image_base import PART, ImageCodec
from .pillow_codecs import pillow_decode, pillow_peek_size, pillow_tool
from .ratecontrol import RATE_TOLERANCE, bisect_continuous
from .registry import register_codec

_SOT = b"\xff\x90"
_COM = 0xFF64


def strip_j2k_comments(data: bytes) -> bytes:
    """Drop COM marker segments from a J2K main header (SOC, then marker segments up to SOT).

    Returns ``data`` unchanged if the header does not parse as expected.
    """
    if data[:2] != b"\xff\x4f":
        return data
    out, pos = [data[:2]], 2
    while pos + 4 <= len(data):
        marker, length = struct.unpack(">HH", data[pos : pos + 4])
        if marker == 0xFF90 or marker < 0xFF00:  # SOT: main header done
            break
        if marker != _COM:
            out.append(data[pos : pos + 2 + length])
        pos += 2 + length
    else:
        return data
    return b"".join(out) + data[pos:]


def packet_ends(data: bytes) -> tuple[int, list[int]] | None:
    """(offset of the first SOT, end offset of every JPEG 2000 packet of the first tile-part),
    from its PLT markers; None when the stream has no parsable SOT/PLT/SOD."""
    sot = data.find(_SOT)
    if sot < 0 or len(data) < sot + 12:
        return None
    pos, lens = sot + 12, []
    while pos + 4 <= len(data):
        marker = struct.unpack(">H", data[pos : pos + 2])[0]
        if marker == 0xFF93:  # SOD: packet data follows
            if not lens:
                return None
            ends, acc = [], pos + 2
            for n in lens:
                acc += n
                ends.append(acc)
            return sot, ends
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if length < 2:
            return None
        if marker == 0xFF58:  # PLT: Zplt, then packet lengths as 7-bit groups (high bit = continue)
            v = 0
            for b in data[pos + 5 : pos + 2 + length]:
                v = (v << 7) | (b & 0x7F)
                if not b & 0x80:
                    lens.append(v)
                    v = 0
        pos += 2 + length
    return None


def truncate_to_packets(data: bytes, usable: int) -> bytes | None:
    """The longest decodable prefix of ``data`` within its first ``usable`` bytes: cut at the last
    complete JPEG 2000 packet, tile-part length (Psot) patched, EOC appended; None if not even
    one packet fits (or the stream has no PLT markers)."""
    found = packet_ends(data)
    if found is None:
        return None
    sot, ends = found
    fit = [e for e in ends if e <= usable]
    if not fit:
        return None
    cut = bytearray(data[: fit[-1]])
    struct.pack_into(">I", cut, sot + 6, len(cut) - sot)
    return bytes(cut) + b"\xff\xd9"


@register_codec("jpeg2000")
class Jpeg2000Codec(ImageCodec):
    """JPEG 2000 codec.

    Args:
        mct: multiple-component (colour) transform; default True.
        irreversible: 9/7 wavelet (lossy, default True) or 5/3 (reversible).
        num_resolutions: number of DWT resolution levels (default 6).

    Native quality: compression ratio (>= 1; 24 / bpp). ``rate_points()`` lists ratios,
    low -> high rate.
    """

    q_min, q_max, default_quality = 1, 2400, 48
    points = (240, 120, 80, 48, 24, 12, 6)

    def __init__(self, mct: bool = True, irreversible: bool = True, num_resolutions: int = 6,
                 on_loss: str = "decode", layers: int | None = None) -> None:
        if not isinstance(num_resolutions, int) or not 1 <= num_resolutions <= 32:
            raise ValueError(f"num_resolutions must be an integer 1..32, got {num_resolutions!r}")
        self.mct = bool(mct)
        self.irreversible = bool(irreversible)
        self.num_resolutions = num_resolutions
        self.on_loss = check_on_loss(on_loss)
        if layers is None:
            layers = 4 if self.on_loss == "decode" else 1
        if not isinstance(layers, int) or not 1 <= layers <= 16:
            raise ValueError(f"layers must be an integer 1..16, got {layers!r}")
        self.layers = layers
        self.plt = self.on_loss == "decode"

    def settings(self) -> dict[str, Any]:
        return {"mct": self.mct, "irreversible": self.irreversible, "num_resolutions": self.num_resolutions,
                "on_loss": self.on_loss, "layers": self.layers, "plt": self.plt}

    def tool(self) -> str:
        return pillow_tool("jpg_2000", "OpenJPEG")

    def _check_quality(self, q: float) -> float:
        if not (self.q_min <= q <= self.q_max):
            raise ValueError(f"jpeg2000: quality (compression ratio) must be in [{self.q_min}, {self.q_max}], got {q!r}")
        return float(q)

    def _encode_bytes(self, image: np.ndarray, quality: float) -> bytes:
        h, w, _ = image.shape
        # OpenJPEG needs every resolution level to be at least 1 pixel wide.
        levels = max(1, min(self.num_resolutions, int(np.log2(max(1, min(h, w)))) + 1))
        buf = io.BytesIO()
        Image.fromarray(image).save(
            buf,
            format="JPEG2000",
            no_jp2=True,
            quality_mode="rates",
            # the top layer at the target ratio, each lower one at half the rate
            quality_layers=[float(quality) * 2.0 ** (self.layers - 1 - i) for i in range(self.layers)],
            progression="LRCP",
            plt=self.plt,
            irreversible=self.irreversible,
            mct=1 if self.mct else 0,
            num_resolutions=levels,
        )
        return strip_j2k_comments(buf.getvalue())

    def _at_bpp(self, image: np.ndarray, bpp: float) -> tuple[float, bytes, bool]:
        """The compression ratio (the quality) is continuous: start at 24 / bpp, then bisect."""
        h, w, _ = image.shape
        target_bits = bpp * h * w
        ratio = 24.0 / bpp
        if ratio < self.q_min:
            raise ValueError(f"jpeg2000: bpp must be <= 24, got {bpp}")
        data = self._encode_bytes(image, ratio)
        met = abs(8 * len(data) - target_bits) <= RATE_TOLERANCE * target_bits
        if not met:
            point, met = bisect_continuous(lambda r: self._sized(image, r), max(self.q_min, ratio / 4),
                                           min(self.q_max, ratio * 4), target_bits, increasing=False, log_scale=True)
            ratio, data = point.param, point.output
        return ratio, data, met

    def decode(self, received) -> Reconstruction:
        """``on_loss="decode"``: the longest intact prefix, cut to whole JPEG 2000 packets (see the
        module docstring); otherwise the image codecs' common decoder."""
        part = received.packets.get(PART)
        if self.on_loss != "decode" or part is None or part.ok or not part.data:
            return super().decode(received)
        shape = tuple(received.shape)
        usable = len(part.intact_prefix())
        prefix = truncate_to_packets(part.data, usable)
        if prefix is None:
            return Reconstruction(grey(shape), False, f"{part.packets_lost} packets lost; no complete JPEG 2000 "
                                  f"packet before the first loss (byte {usable})", recovered=0.0)
        rec = super().decode(received.with_part(PART, prefix))
        frac = (len(prefix) - 2) / len(part.data)
        why = f"{part.packets_lost} of {part.num_packets} packets lost; decoded the intact prefix ({100 * frac:.0f} %)"
        return Reconstruction(rec.data, False, why + (f"; {rec.reason}" if rec.reason else ""), recovered=frac)

    def _peek_size(self, data: bytes) -> tuple[int, int]:
        return pillow_peek_size(data, "JPEG2000")

    def _decode_bytes(self, data: bytes) -> tuple[np.ndarray, str]:
        return pillow_decode(data, "JPEG2000")
