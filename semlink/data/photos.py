"""``photos``: the colour photographs that ship inside the scikit-image wheel.

Read straight from ``skimage/data/`` with Pillow (nothing is fetched; scikit-image's own
loaders are not used so a file missing from the wheel can never trigger a download).
Included (order fixed; sizes H x W): astronaut 512x512, chelsea 300x451, coffee 400x600,
rocket 427x640 (JPEG source), motorcycle_left / motorcycle_right 500x741,
hubble_deep_field 872x1000 (JPEG source). Excluded: the grayscale images (camera, coins,
moon, ...), textures, charts/logos and the microscopy/medical images (ihc, retina, cells).
RGBA or palette files are converted to RGB.

Licences (from scikit-image's docstrings): astronaut, rocket, hubble_deep_field: public
domain (NASA / SpaceX / NASA); chelsea: CC0 (Stefan van der Walt); coffee: CC0 (Rachel
Michetti); motorcycle_left/right: Middlebury 2014 stereo benchmark (Scharstein et al., GCPR
2014), redistributed by scikit-image without a stated licence — cite it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from .registry import Dataset, Item, register_dataset
from .transforms import Geometry

PHOTOS: dict[str, str] = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "motorcycle_left": "motorcycle_left.png",
    "motorcycle_right": "motorcycle_right.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
}


def skimage_data_dir() -> Path:
    """Directory of the data files bundled in the installed scikit-image wheel."""
    return Path(str(resources.files("skimage"))) / "data"


def load_rgb(path: Path) -> np.ndarray:
    """Image file -> uint8 [H, W, 3]."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@register_dataset("photos", "image", "colour photos bundled in the scikit-image wheel (7 images, 300x451 to 872x1000)")
def build_photos(geometry: Geometry) -> Dataset:
    """The ``photos`` dataset (see module docstring)."""
    root = skimage_data_dir()
    items = [Item(name, (lambda p=root / fname: load_rgb(p)), geometry) for name, fname in PHOTOS.items()]
    return Dataset(
        name="photos",
        kind="image",
        source=f"scikit-image wheel: {root}",
        licence="public domain / CC0; motorcycle pair: Middlebury 2014 (no stated licence) - see semlink.data.photos",
        items=items,
    )
