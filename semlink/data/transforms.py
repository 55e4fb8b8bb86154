"""Deterministic geometry for dataset items: resize (Lanczos, Pillow) then centre crop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from semlink.errors import ConfigError


def _hw(value: int | tuple[int, int] | None, field: str) -> tuple[int, int] | int | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError(f"{field} must be >= 1, got {value}")
        return int(value)
    try:
        h, w = (int(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"{field} must be an int or (H, W), got {value!r}") from None
    if h < 1 or w < 1:
        raise ConfigError(f"{field} must be positive, got {value!r}")
    return h, w


@dataclass(frozen=True)
class Geometry:
    """Resize then centre-crop.

    Attributes:
        size: int = shorter side in pixels (aspect kept, rounded); (H, W) = exact; None = keep.
        crop: int = square side; (H, W); None = no crop. Larger than the image -> ValueError.
    """

    size: int | tuple[int, int] | None = None
    crop: int | tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", _hw(self.size, "size"))
        object.__setattr__(self, "crop", _hw(self.crop, "crop"))

    def apply(self, arr: np.ndarray) -> np.ndarray:
        """Apply to uint8 [H, W, 3] or [T, H, W, 3]."""
        if arr.ndim == 4:
            return np.stack([self.apply(f) for f in arr]) if len(arr) else arr
        out = arr
        if self.size is not None:
            h, w = out.shape[:2]
            if isinstance(self.size, int):
                s = self.size / min(h, w)
                th, tw = max(1, round(h * s)), max(1, round(w * s))
            else:
                th, tw = self.size
            if (th, tw) != (h, w):
                out = np.asarray(Image.fromarray(out).resize((tw, th), Image.Resampling.LANCZOS))
        if self.crop is not None:
            ch, cw = (self.crop, self.crop) if isinstance(self.crop, int) else self.crop
            h, w = out.shape[:2]
            if ch > h or cw > w:
                raise ConfigError(f"crop {ch}x{cw} is larger than the image {h}x{w}")
            top, left = (h - ch) // 2, (w - cw) // 2
            out = out[top : top + ch, left : left + cw]
        return out
