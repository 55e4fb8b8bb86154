"""H.264 (x264) and H.265 (x265) through the FFmpeg binary, raw Annex-B bitstreams.

Frames go in and out as numpy arrays through pipes (rawvideo rgb24); the coded stream is the
raw Annex-B elementary stream (``-f h264`` / ``-f hevc``), which is exactly what crosses the
link (part ``"bitstream"``). Parameter sets (SPS/PPS/VPS) are in-band, so the stream is
self-describing. The encoders' informational SEI messages (x264's option string, ~600 bytes;
x265's, ~2 kB) carry no decoding information and are removed (``filter_units`` bitstream
filter; x265 also gets ``info=0``).

Pixel format yuv420p (FFmpeg's default BT.601 limited-range conversion both ways); odd
sizes are padded to even by edge replication and cropped back after decoding.

Rate: ``crf=`` / ``qp=`` (native), or a target given as ``bitrate=`` (bits/s at the codec's
``fps``) or ``bcr=`` (bit compression ratio, eq. 20 of VQ-DeepVSC: bits / (C*H*W*8*N)).
Targets are first coded with ABR (+VBV: maxrate 1.5x, buffer 2 s) or 2-pass
(``rate_control="2pass"``); if the result misses the target by more than 5 % (usual for
short clips), CRF is bisected instead. ``info["target_met"]`` says whether it landed.

Decoding never raises and never hangs: every FFmpeg call is time-limited, runs with
``-err_detect ignore_err`` (H.264 also with its default error concealment, ``-ec
guess_mvs+deblock+favor_inter``), and outputs are forced to the source size. Missing frames
repeat the last decoded frame; with none decoded the clip is mid-grey.
"""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path
from typing import Any

import ffmpeg
import numpy as np

from ._util import check_context, check_on_loss, fit_to_shape, grey, one_rate, validate_video
from .base import Codec, Encoded, Reconstruction
from .received import Received
from .ffmpeg_io import DEFAULT_TIMEOUT_S, ffmpeg_exe, ffmpeg_version, run_ffmpeg
from .ratecontrol import RATE_TOLERANCE, bisect_continuous
from .registry import register_codec

PART = "bitstream"
RATE_KEYS = ("crf", "qp", "bitrate", "bcr")
_RATE_CONTROLS = ("abr", "2pass", "crf_search")


def bcr_bits(bcr: float, shape: tuple[int, ...]) -> float:
    """Bits for a bit compression ratio: bcr * C*H*W*8*N for frames [N, H, W, C]."""
    n, h, w, c = shape
    return bcr * c * h * w * 8 * n


class FfmpegVideoCodec(Codec):
    """Base of the FFmpeg-driven video codecs.

    Args:
        gop: key-frame interval in frames (``-g``); None = encoder default (250).
        intra_only: code every frame as an IDR frame (same as ``gop=1``).
        preset: encoder preset (default "medium").
        tune: encoder tune (e.g. "psnr", "zerolatency"); None = none.
        fps: frame rate in frames/s used by ``bitrate=`` and written to the stream (default 25).
        bframes: max consecutive B frames; None = preset default.
        rate_control: for ``bitrate=``/``bcr=`` targets: "abr" (default; ABR + VBV), "2pass",
            or "crf_search" (bisect CRF directly).
        threads: encoder threads (default 1: deterministic output).
        timeout_s: limit of each FFmpeg call in seconds (default 120).
        on_loss: "decode" (default: FFmpeg decodes the received stream with its error
            concealment; H.264 is coded in slices of at most 239 bytes, one per link packet;
            x265 has no byte-limited slices, so H.265 relies on concealment alone) or
            "conceal" (any lost packet -> a mid-grey clip).
    """

    kind = "video"
    rate_keys = RATE_KEYS
    native_rate_key = "crf"
    encoder: str = ""
    stream_format: str = ""
    sei_types: str = ""
    crf_range: tuple[float, float] = (0.0, 51.0)
    points = (45, 40, 35, 30, 25, 20)

    def __init__(
        self,
        gop: int | None = None,
        intra_only: bool = False,
        preset: str = "medium",
        tune: str | None = None,
        fps: float = 25.0,
        bframes: int | None = None,
        rate_control: str = "abr",
        threads: int = 1,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        on_loss: str = "decode",
    ) -> None:
        if gop is not None and (not isinstance(gop, int) or gop < 1):
            raise ValueError(f"gop must be a positive integer or None, got {gop!r}")
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps!r}")
        if rate_control not in _RATE_CONTROLS:
            raise ValueError(f"rate_control must be one of {_RATE_CONTROLS}, got {rate_control!r}")
        if not isinstance(threads, int) or threads < 0:
            raise ValueError(f"threads must be an integer >= 0 (0 = auto), got {threads!r}")
        if bframes is not None and (not isinstance(bframes, int) or bframes < 0):
            raise ValueError(f"bframes must be a non-negative integer or None, got {bframes!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        if not isinstance(preset, str) or not preset:
            raise ValueError(f"preset must be a non-empty string, got {preset!r}")
        self.intra_only = bool(intra_only) or gop == 1
        self.gop = 1 if self.intra_only else gop
        self.preset, self.tune, self.fps = preset, tune, float(fps)
        self.bframes, self.rate_control, self.threads, self.timeout_s = bframes, rate_control, threads, timeout_s
        self.on_loss = check_on_loss(on_loss)

    def rate_points(self) -> list[Any]:
        """CRF values, low -> high rate."""
        return list(self.points)

    def part_names(self) -> tuple[str, ...]:
        return (PART,)

    def tool(self) -> str:
        return f"{_encoder_version(self.encoder)} via FFmpeg {ffmpeg_version()} (imageio-ffmpeg)"

    # --- command lines ------------------------------------------------------------------
    def _encoder_params(self, extra: dict[str, Any]) -> dict[str, Any]:
        """Encoder-specific output options (x265 takes most through ``-x265-params``)."""
        return extra

    def _encode_args(self, w: int, h: int, fps: float, rate: dict[str, Any], out: str = "pipe:") -> list[str]:
        opts: dict[str, Any] = {
            "c:v": self.encoder,
            "pix_fmt": "yuv420p",
            "preset": self.preset,
            "threads": self.threads,
            "format": self.stream_format,
            "bsf:v": f"filter_units=remove_types={self.sei_types}",
        }
        if self.gop is not None:
            opts["g"] = self.gop
        if self.tune:
            opts["tune"] = self.tune
        if self.bframes is not None:
            opts["bf"] = self.bframes
        opts.update(self._encoder_params(dict(rate)))
        stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=fps)
        stream = ffmpeg.output(stream, out, **opts).global_args("-hide_banner", "-loglevel", "error")
        return ffmpeg.compile(stream, cmd=ffmpeg_exe(), overwrite_output=True)

    def _decode_args(self, w: int, h: int, n: int) -> list[str]:
        # one decoder thread: FFmpeg's frame-threaded concealment of damaged streams varies from run to run
        stream = ffmpeg.input("pipe:", format=self.stream_format, err_detect="ignore_err", threads=1)
        stream = ffmpeg.output(
            stream, "pipe:", format="rawvideo", pix_fmt="rgb24", vf=f"scale={w}:{h}", fps_mode="passthrough",
            **{"frames:v": n},
        ).global_args("-hide_banner", "-loglevel", "error")
        return ffmpeg.compile(stream, cmd=ffmpeg_exe())

    # --- encode -------------------------------------------------------------------------
    def _run_encode(self, raw: bytes, w: int, h: int, fps: float, rate: dict[str, Any]) -> bytes:
        if rate.pop("_2pass", False):
            with tempfile.TemporaryDirectory(prefix="semlink-2pass-") as tmp:
                stats = str(Path(tmp) / "stats")
                for p in (1, 2):
                    res = run_ffmpeg(self._encode_args(w, h, fps, {**rate, "_pass": p, "_stats": stats}), raw, self.timeout_s)
                    _check(res, self.encoder)
                return res.stdout
        res = run_ffmpeg(self._encode_args(w, h, fps, rate), raw, self.timeout_s)
        _check(res, self.encoder)
        return res.stdout

    def encode(
        self,
        item: np.ndarray,
        *,
        crf: float | None = None,
        qp: float | None = None,
        bitrate: float | None = None,
        bcr: float | None = None,
        fps: float | None = None,
        **extra: Any,
    ) -> Encoded:
        """Code a clip.

        Args:
            item: uint8 [T, H, W, 3].
            crf / qp: native quality (0..51, lower = higher rate); default CRF 28.
            bitrate: target in bits/s at ``fps`` (all transmitted bits counted).
            bcr: target bit compression ratio bits / (3*H*W*8*T).
            fps: frame rate override (frames/s).
            extra: context the runner may pass to every codec (``snr_db``, ``channel_state``);
                ignored here. Any other keyword is a ValueError.
        """
        check_context(extra)
        frames = validate_video(item)
        fps = self.fps if fps is None else float(fps)
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps!r}")
        key, value = one_rate({"crf": crf, "qp": qp, "bitrate": bitrate, "bcr": bcr}, RATE_KEYS)
        t, h, w, _ = frames.shape
        padded = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        ph, pw = padded.shape[1:3]
        raw = padded.tobytes()
        info: dict[str, Any] = {"tool": self.tool(), "preset": self.preset, "gop": self.gop, "fps": fps}

        if key in (None, "crf", "qp"):
            key, value = key or "crf", 28.0 if value is None else value
            lo, hi = self.crf_range
            if not lo <= value <= hi:
                raise ValueError(f"{key} must be in [{lo}, {hi}], got {value}")
            data = self._run_encode(raw, pw, ph, fps, {key: value})
            info[key] = value
        else:
            target = value * t / fps if key == "bitrate" else bcr_bits(value, frames.shape)
            info["target_bits"] = target
            info[f"target_{key}"] = value
            data, met = b"", False
            if self.rate_control in ("abr", "2pass"):
                rate = {"bitrate_bps": target * fps / t, "_2pass": self.rate_control == "2pass"}
                try:
                    data = self._run_encode(raw, pw, ph, fps, rate)
                    met = abs(8 * len(data) - target) <= RATE_TOLERANCE * target
                except RuntimeError as exc:  # e.g. x264 refuses a VBV this small: CRF search below
                    info["abr_error"] = str(exc)[:200]
                info["rate_control"] = self.rate_control
            if not met:
                point, met = bisect_continuous(
                    lambda c: _sized(self._run_encode(raw, pw, ph, fps, {"crf": round(c, 2)})),
                    *self.crf_range, target, increasing=False, max_iter=10,
                )
                data = point.output
                info.update(crf=round(point.param, 2), rate_control="crf_search")
            info["target_met"] = met
        bits = 8 * len(data)
        info.update(bits=bits, bitrate=bits * fps / t, bcr=bits / (3 * h * w * 8 * t), bpp=bits / (t * h * w))
        return Encoded(codec=self.name, kind="video", shape=frames.shape, parts={PART: data}, info=info)

    # --- decode -------------------------------------------------------------------------
    def decode(self, received: Received) -> Reconstruction:
        """Decode with FFmpeg's concealment; never raises. See module docstring for the policy."""
        shape = tuple(received.shape)
        t, h, w, _ = shape
        data = received.parts.get(PART, b"")
        if not data:
            return Reconstruction(grey(shape), False, "empty bitstream")
        part = received.packets.get(PART)
        if self.on_loss == "conceal" and part is not None and not part.ok:
            return Reconstruction(grey(shape), False, f"concealed: {part.packets_lost} of {part.num_packets} packets lost",
                                  recovered=0.0)
        pw, ph = w + w % 2, h + h % 2
        try:
            res = run_ffmpeg(self._decode_args(pw, ph, t), data, self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - e.g. OSError starting the process
            return Reconstruction(grey(shape), False, f"ffmpeg failed to run: {type(exc).__name__}: {exc}")
        frame_bytes = pw * ph * 3
        n = min(t, len(res.stdout) // frame_bytes)
        if n == 0:
            return Reconstruction(grey(shape), False, f"no frame decoded (rc={res.returncode}): {_tail(res.stderr)}")
        dec = np.frombuffer(res.stdout[: n * frame_bytes], np.uint8).reshape(n, ph, pw, 3)[:, :h, :w]
        out = np.empty(shape, np.uint8)
        out[:n] = dec
        out[n:] = dec[-1]
        problems = []
        if n < t:
            problems.append(f"{n}/{t} frames decoded, last repeated")
        if res.returncode != 0:
            problems.append(f"rc={res.returncode}")
        if res.stderr.strip():
            problems.append(_tail(res.stderr))
        ok = n == t and res.returncode == 0
        return Reconstruction(fit_to_shape(out, shape), ok, "; ".join(problems))


def _sized(data: bytes) -> tuple[bytes, int]:
    return data, 8 * len(data)


def _tail(text: str, n: int = 300) -> str:
    text = " | ".join(line for line in text.strip().splitlines()[-3:])
    return text[-n:]


def _check(res, encoder: str) -> None:
    if res.returncode != 0 or not res.stdout:
        raise RuntimeError(f"{encoder} encoding failed (rc={res.returncode}): {_tail(res.stderr, 1000)}")


@register_codec("h264")
class H264Codec(FfmpegVideoCodec):
    """H.264/AVC with x264 (FFmpeg ``libx264``). See :class:`FfmpegVideoCodec` for options."""

    encoder, stream_format, sei_types = "libx264", "h264", "6"  # 6: SEI

    #: on_loss="decode": slices of at most this many bytes, so a slice fits one link packet (239 payload
    #: bytes at LDPC rate 3/4) and a lost packet takes one slice with it (+7.9 % bits on carphone, CRF 28)
    slice_max_bytes = 239

    def _encoder_params(self, extra: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.on_loss == "decode":
            out["slice-max-size"] = self.slice_max_bytes
        if "crf" in extra:
            out["crf"] = extra["crf"]
        if "qp" in extra:
            out["qp"] = int(extra["qp"])
        if "bitrate_bps" in extra:
            b = max(1.0, extra["bitrate_bps"])  # "0" would be rejected by x264 (very low targets)
            out.update({"b:v": f"{b:.0f}", "maxrate": f"{max(1.0, 1.5 * b):.0f}", "bufsize": f"{2 * b:.0f}"})
        if "_pass" in extra:
            out.update({"pass": extra["_pass"], "passlogfile": extra["_stats"]})
        return out


@register_codec("h265")
class H265Codec(FfmpegVideoCodec):
    """H.265/HEVC with x265 (FFmpeg ``libx265``). See :class:`FfmpegVideoCodec` for options."""

    encoder, stream_format, sei_types = "libx265", "hevc", "39"  # 39: prefix SEI

    def _encoder_params(self, extra: dict[str, Any]) -> dict[str, Any]:
        params = ["log-level=error", "info=0"]
        out: dict[str, Any] = {}
        if "crf" in extra:
            out["crf"] = extra["crf"]
        if "qp" in extra:
            out["qp"] = int(extra["qp"])
        if "bitrate_bps" in extra:
            b = max(1000.0, extra["bitrate_bps"])  # x265 takes its VBV sizes in kbit/s: at least 1
            out["b:v"] = f"{b:.0f}"
            params += [f"vbv-maxrate={max(1.0, 1.5 * b / 1000):.0f}", f"vbv-bufsize={max(1.0, 2 * b / 1000):.0f}"]
        if "_pass" in extra:
            params += [f"pass={extra['_pass']}", f"stats={extra['_stats']}"]
        out["x265-params"] = ":".join(params)
        return out


@functools.lru_cache(maxsize=None)
def _encoder_version(encoder: str) -> str:
    """Version of x264/x265 inside the FFmpeg binary, read from the SEI of a 1-frame encode."""
    args = ffmpeg.compile(
        ffmpeg.output(
            ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s="16x16"),
            "pipe:", format="h264" if encoder == "libx264" else "hevc", **{"c:v": encoder},
        ).global_args("-hide_banner", "-loglevel", "error"),
        cmd=ffmpeg_exe(),
    )
    res = run_ffmpeg(args, bytes(16 * 16 * 3), 30)
    pattern = rb"x264 - core \d+( r\d+ \w+)?" if encoder == "libx264" else rb"x265 \(build \d+\) - [\w.+-]+"
    m = re.search(pattern, res.stdout)
    return m.group(0).decode(errors="replace") if m else encoder
