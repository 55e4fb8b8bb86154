"""Training images for the learned codecs, and random crops from them.

Sources (``--data``, comma-separated; default ``bundled``):

* ``bundled`` — photographs that ship in packages semlink already installs, none of them in the
  ``photos`` test set (checked pixel for pixel at load time):

  - matplotlib ``mpl-data/sample_data/grace_hopper.jpg`` (RGB 600x512; US Navy photograph,
    public domain);
  - scikit-image ``skimage/data/``: ``retina.jpg`` (RGB 1411x1411, CC0), ``ihc.png`` (RGB
    512x512 microscopy, "no known copyright restrictions"), and the grayscale photographs /
    textures ``camera.png`` (CC0), ``coins.png`` (Brooklyn Museum, no known copyright
    restrictions), ``cell.png`` (CC0), ``brick.png``, ``grass.png``, ``gravel.png`` (CC0
    textures), used as RGB with equal channels.

  Nine images, 4.1 Mpixel in all: enough to test the pipeline and for short runs, too
  little for a competitive codec.
* ``vc2`` — the three 2832x4256 natural pictures of the optional ``vc2-conformance-data``
  wheel (~250 MB, GPL-3.0-only, (c) BBC; ``pip install vc2-conformance-data``), downscaled by
  ``vc2_scale`` (default 2) with area averaging.
* a directory path — every ``*.png`` / ``*.jpg`` / ``*.jpeg`` / ``*.ppm`` / ``*.bmp`` /
  ``*.webp`` file in it (not recursive), e.g. images exported for a GPU machine that cannot
  install packages.
* ``folder:DIR`` — the images of the ``folder`` dataset on DIR (:mod:`semlink.data.folder`:
  png / jpg / jpeg / bmp / tif / tiff, subfolders included, hidden files skipped, 16-bit and
  greyscale converted to 8-bit RGB; videos in DIR are ignored). DIR must not contain ",".

Crops: the image is drawn with probability proportional to its area, then a random
``crop x crop`` window (images smaller than the crop are upscaled first), then a random
horizontal flip. The generator is seeded per step, so a resumed run draws the same crops.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from semlink.errors import ConfigError

from semlink.data.bundled import MATPLOTLIB_FILES, SKIMAGE_FILES, bundled_files  # noqa: F401  (re-exported)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".webp", ".tif", ".tiff")


class TrainingDataError(ConfigError):
    """A training-data source is unavailable or empty (the message says how to get it)."""


@dataclass
class TrainImage:
    name: str
    data: np.ndarray  # uint8 [H, W, 3]


def _load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _downscale(img: np.ndarray, factor: int) -> np.ndarray:
    if factor <= 1:
        return img
    h, w = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
    x = img[:h, :w].astype(np.float32).reshape(h // factor, factor, w // factor, factor, 3).mean(axis=(1, 3))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _test_set_hashes() -> set[str]:
    from semlink.data.photos import PHOTOS, load_rgb, skimage_data_dir

    root = skimage_data_dir()
    return {hashlib.sha256(load_rgb(root / f).tobytes()).hexdigest() for f in PHOTOS.values() if (root / f).is_file()}


def _folder_images(src: str) -> list[TrainImage]:
    """Images of a ``folder:DIR`` source (the ``folder`` dataset, images only)."""
    from semlink.data import get_dataset, parse_dataset_arg

    try:
        name, options = parse_dataset_arg(src)
        ds = get_dataset(name, kind="image", **options)
        root = Path(ds.source)
        return [TrainImage(f"{root.name}/{item.name}", np.asarray(item.data)) for item in ds]
    except ValueError as exc:
        raise TrainingDataError(f"training data source {src!r}: {exc}") from None


def load_training_images(sources: str = "bundled", vc2_scale: int = 2) -> list[TrainImage]:
    """Images of the comma-separated ``sources`` (``bundled``, ``vc2``, ``folder:DIR``, or directories).

    Raises:
        TrainingDataError: unknown / missing source, empty directory, or an image that is one
            of the ``photos`` test set.
    """
    images: list[TrainImage] = []
    for src in [s.strip() for s in sources.split(",") if s.strip()]:
        if src == "bundled":
            images += [TrainImage(f"bundled/{p.name}", _load_rgb(p)) for p in bundled_files()]
        elif src == "vc2":
            from semlink.data.registry import DatasetUnavailable
            from semlink.data.vc2 import PICTURES, package_dir, read_vc2_raw

            try:
                root = package_dir()
            except DatasetUnavailable as exc:
                raise TrainingDataError(str(exc)) from None
            images += [TrainImage(f"vc2/{n}", _downscale(read_vc2_raw(root / f"{n}.raw"), vc2_scale)) for n in PICTURES]
        elif src.startswith("folder:"):
            images += _folder_images(src)
        else:
            d = Path(src)
            if not d.is_dir():
                raise TrainingDataError(
                    f"training data source {src!r} is neither 'bundled', 'vc2', 'folder:DIR' nor an existing directory"
                )
            files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise TrainingDataError(f"training data directory {d} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            images += [TrainImage(f"{d.name}/{p.name}", _load_rgb(p)) for p in files]
    if not images:
        raise TrainingDataError("no training data source given (use e.g. --data bundled)")
    test = _test_set_hashes()
    for im in images:
        if hashlib.sha256(np.ascontiguousarray(im.data).tobytes()).hexdigest() in test:
            raise TrainingDataError(f"training image {im.name} is one of the 'photos' test set; remove it")
    return images


class RandomCrops:
    """Batches of random crops: ``batch(step) -> float32 [B, 3, crop, crop]`` in [0, 1]."""

    def __init__(self, images: list[TrainImage], crop: int, batch: int, seed: int = 0):
        if crop < 64 or crop % 64:
            raise ValueError(f"crop must be a positive multiple of 64, got {crop}")
        self.crop, self.batch_size, self.seed = int(crop), int(batch), int(seed)
        self.images = []
        for im in images:
            h, w = im.data.shape[:2]
            if min(h, w) < crop:
                s = crop / min(h, w)
                with Image.fromarray(im.data) as pil:
                    data = np.asarray(pil.resize((max(crop, round(w * s)), max(crop, round(h * s))), Image.BICUBIC))
            else:
                data = im.data
            self.images.append(data)
        areas = np.array([d.shape[0] * d.shape[1] for d in self.images], dtype=np.float64)
        self.p = areas / areas.sum()

    def batch(self, step: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int(step)])
        c = self.crop
        out = np.empty((self.batch_size, c, c, 3), dtype=np.uint8)
        for b in range(self.batch_size):
            img = self.images[rng.choice(len(self.images), p=self.p)]
            y = rng.integers(0, img.shape[0] - c + 1)
            x = rng.integers(0, img.shape[1] - c + 1)
            patch = img[y : y + c, x : x + c]
            out[b] = patch[:, ::-1] if rng.random() < 0.5 else patch
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
