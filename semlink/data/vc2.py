"""``vc2``: optional large natural pictures from the ``vc2-conformance-data`` wheel (BBC R&D).

Not installed by default (the wheel is ~250 MB): ``pip install vc2-conformance-data`` or
``semlink data fetch vc2``. Pictures: berries, kingswood, trees — 2832 x 4256 (H x W), stored
uncompressed in the VC-2 conformance raw format: three planar components, 16-bit unsigned
little-endian (luma_excursion 65535), 4:4:4, colour matrix index 3 (RGB) so the planes are
Y = G, C1 = B, C2 = R (checked on the package's 'pointer' sprite whose letters are saturated
R, G, B). Converted to 8-bit RGB by rounding ``v * 255 / 65535``. The metadata ``*.json`` next
to each ``*.raw`` gives the size and depth; it is read and checked.

Licence: GPL-3.0-only (c) BBC 2021 (the package and its pictures).

Defaults: full size; use ``size=`` / ``crop=`` (e.g. ``size=512``) for practical runs.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np

from .registry import Dataset, DatasetUnavailable, Item, register_dataset
from .transforms import Geometry

from semlink.errors import ConfigError

PACKAGE = "vc2-conformance-data"
MODULE = "vc2_conformance_data"
PICTURES = ("berries", "kingswood", "trees")
INSTALL_HINT = f"pip install {PACKAGE}  (or: semlink data fetch vc2)"


def read_vc2_raw(raw_path: Path) -> np.ndarray:
    """VC-2 conformance raw picture (RGB colour matrix, 4:4:4) -> uint8 [H, W, 3]."""
    meta = json.loads(raw_path.with_suffix(".json").read_text())
    vp = meta["video_parameters"]
    h, w = int(vp["frame_height"]), int(vp["frame_width"])
    if vp["color_diff_format_index"] != 0 or vp["color_matrix_index"] != 3 or meta["picture_coding_mode"] != 0:
        raise ConfigError(f"{raw_path.name}: only 4:4:4 RGB progressive pictures are supported, got {vp}")
    depth = int(vp["luma_excursion"]).bit_length()
    if depth != int(vp["color_diff_excursion"]).bit_length():
        raise ConfigError(f"{raw_path.name}: components with different bit depths are not supported")
    dtype = np.dtype("<u2") if depth > 8 else np.dtype("u1")
    planes = np.fromfile(raw_path, dtype=dtype)
    if planes.size != 3 * h * w:
        raise ConfigError(f"{raw_path.name}: {planes.size} samples, expected 3*{h}*{w}")
    g, b, r = planes.reshape(3, h, w)
    rgb = np.stack([r, g, b], axis=-1).astype(np.float64)
    return np.clip(np.rint(rgb * 255.0 / ((1 << depth) - 1)), 0, 255).astype(np.uint8)


def package_dir() -> Path:
    """Directory of the installed ``vc2_conformance_data`` package.

    Raises:
        DatasetUnavailable: not installed (message names the package and how to install it).
    """
    try:
        mod = importlib.import_module(MODULE)
    except ImportError:
        raise DatasetUnavailable(f"dataset 'vc2' needs the optional package '{PACKAGE}' (~250 MB): {INSTALL_HINT}") from None
    return Path(mod.__file__).parent


@register_dataset("vc2", "image", "BBC VC-2 conformance natural pictures, 2832x4256, 16-bit (optional package)", package=PACKAGE)
def build_vc2(geometry: Geometry) -> Dataset:
    """The ``vc2`` dataset (see module docstring)."""
    root = package_dir()
    items = [Item(name, (lambda p=root / f"{name}.raw": read_vc2_raw(p)), geometry) for name in PICTURES]
    return Dataset(name="vc2", kind="image", source=f"{PACKAGE}: {root}", licence="GPL-3.0-only (c) BBC 2021", items=items)
