"""``jpeg2000-ffmpeg``: JPEG 2000 as CompressAI's benchmark codes it — FFmpeg's libopenjpeg on
yuv444p, a ``.jp2`` file — the anchor of published learned-codec curves.

semlink's own ``jpeg2000`` (OpenJPEG through Pillow, irreversible colour transform, raw J2K
codestream, rate by target ratio) needs about 21 % fewer bits for the same PSNR on photographs,
so BD-rates against it are not comparable with published ones; ``semlink rd`` reports both
anchors side by side. This codec reproduces CompressAI's ``compressai.utils.bench.codecs.JPEG2000``
command (``ffmpeg -i in.png -vcodec jpeg2000 -pix_fmt yuv444p -c:v libopenjpeg
-compression_level L out.jp2``) with the FFmpeg binary of ``imageio-ffmpeg``; every byte of the
``.jp2`` file (boxes included) is counted.

Rate: ``compression_level`` L is libopenjpeg's rate (a compression ratio of about 2 L against
8-bit 4:4:4); the native ``quality`` is ``Q_TOP + 1 - L`` so that a higher quality means more bits,
and ``bpp=`` picks the highest quality within the target. Decoding a damaged stream uses FFmpeg's
own error handling (or mid-grey), as the other classical codecs.
"""

from __future__ import annotations

import re
import struct
import tempfile
from pathlib import Path

import numpy as np

from ._util import check_on_loss
from .ffmpeg_io import ffmpeg_exe, ffmpeg_version, run_ffmpeg
from .image_base import ImageCodec
from .registry import register_codec

#: quality = Q_TOP + 1 - compression_level
Q_TOP = 500


@register_codec("jpeg2000-ffmpeg")
class Jpeg2000FfmpegCodec(ImageCodec):
    """JPEG 2000 by FFmpeg/libopenjpeg on yuv444p in a .jp2 file (CompressAI's anchor)."""

    q_min, q_max, default_quality = 1, Q_TOP, Q_TOP + 1 - 16
    #: compression levels 192 .. 4 (about 0.06 .. 3 bpp on photographs), as qualities
    points = tuple(Q_TOP + 1 - lv for lv in (192, 128, 96, 64, 48, 32, 24, 16, 12, 8, 6, 4))

    def __init__(self, on_loss: str = "decode") -> None:
        self.on_loss = check_on_loss(on_loss)

    def settings(self) -> dict:
        return {"pix_fmt": "yuv444p", "container": "jp2"}

    def tool(self) -> str:
        return f"FFmpeg {ffmpeg_version()} libopenjpeg (CompressAI's JPEG2000 anchor: yuv444p, .jp2)"

    def _encode_bytes(self, image: np.ndarray, quality: float) -> bytes:
        level = Q_TOP + 1 - int(quality)
        h, w, _ = image.shape
        with tempfile.TemporaryDirectory(prefix="semlink-j2k-") as tmp:
            out = Path(tmp) / "out.jp2"
            r = run_ffmpeg([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                            "-s", f"{w}x{h}", "-i", "pipe:0", "-vcodec", "jpeg2000", "-pix_fmt", "yuv444p",
                            "-c:v", "libopenjpeg", "-compression_level", str(level), str(out)],
                           np.ascontiguousarray(image).tobytes())
            if r.returncode != 0 or not out.is_file():
                raise RuntimeError(f"ffmpeg libopenjpeg failed: {r.stderr.strip()[-300:]}")
            return out.read_bytes()

    def _peek_size(self, data: bytes) -> tuple[int, int]:
        """(width, height) from the JP2 ``ihdr`` box (HEIGHT, WIDTH as big-endian uint32)."""
        i = data.find(b"ihdr")
        if i < 0 or i + 12 > len(data):
            raise ValueError("no ihdr box")
        h, w = struct.unpack(">II", data[i + 4:i + 12])
        return w, h

    def _decode_bytes(self, data: bytes) -> tuple[np.ndarray, str]:
        w, h = self._peek_size(data)
        with tempfile.TemporaryDirectory(prefix="semlink-j2k-") as tmp:
            src = Path(tmp) / "in.jp2"
            src.write_bytes(data)
            r = run_ffmpeg([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(src), "-f", "rawvideo",
                            "-pix_fmt", "rgb24", "pipe:1"], None)
        if len(r.stdout) < w * h * 3:
            raise RuntimeError(f"ffmpeg decoded {len(r.stdout)} bytes for {w}x{h}: {r.stderr.strip()[-200:]}")
        arr = np.frombuffer(r.stdout[: w * h * 3], np.uint8).reshape(h, w, 3)
        note = re.sub(r"\s+", " ", r.stderr.strip())[-200:] if r.returncode != 0 or r.stderr.strip() else ""
        return arr.copy(), note
