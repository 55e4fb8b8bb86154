"""Running the FFmpeg binary shipped by ``imageio-ffmpeg``: bounded, no leftover processes.

Command lines are built with ``ffmpeg-python`` (``ffmpeg.compile``) and executed here with
:func:`subprocess.run` and a timeout (on expiry the child is killed and reaped by ``run``), so
that a damaged bitstream can never hang the simulator or leave an FFmpeg process behind.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass

import imageio_ffmpeg

#: Default wall-clock limit of one FFmpeg call, seconds.
DEFAULT_TIMEOUT_S = 120.0


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the static FFmpeg binary from imageio-ffmpeg (no system FFmpeg needed)."""
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    """FFmpeg version string, e.g. ``"n9.0.2-17-g2a571b6068-20260930"``."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, timeout=30, check=False)
    m = re.search(rb"ffmpeg version (\S+)", out.stdout)
    return m.group(1).decode() if m else "unknown"


@dataclass(frozen=True)
class FfmpegResult:
    """Outcome of one FFmpeg call: exit code (None after a timeout), stdout bytes, stderr text."""

    returncode: int | None
    stdout: bytes
    stderr: str


def run_ffmpeg(args: list[str], input_bytes: bytes | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> FfmpegResult:
    """Run FFmpeg ``args`` (``args[0]`` is the executable), feeding ``input_bytes`` on stdin.

    Never raises for FFmpeg failures: a timeout kills the process and returns what it had
    written so far, with ``returncode=None``.
    """
    try:
        proc = subprocess.run(args, input=input_bytes, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:  # run() has killed and reaped the child
        return FfmpegResult(None, exc.stdout or b"", (exc.stderr or b"").decode(errors="replace") + "\n[timeout]")
    return FfmpegResult(proc.returncode, proc.stdout, proc.stderr.decode(errors="replace"))
