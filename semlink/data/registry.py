"""Dataset registry and the item/dataset containers.

>>> ds = get_dataset("photos", size=256, crop=256, max_items=3)
>>> for item in ds: item.name, item.data.shape     # uint8 [H, W, 3] (or [T, H, W, 3] for clips)
>>> name, options = parse_dataset_arg("folder:my_pictures")   # ("folder", {"path": "my_pictures"})
>>> ds = get_dataset(name, size=256, **options)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from semlink.registry import Registry

from .transforms import Geometry

from semlink.errors import UnavailableError, ConfigError


class DatasetUnavailable(UnavailableError):
    """An optional dataset's package is not installed (the message says how to install it)."""


class Item:
    """One dataset item: ``name`` and ``data`` (uint8 image [H, W, 3] or clip [T, H, W, 3]).

    ``data`` is loaded (and resized/cropped) on first access and then kept. ``group`` (optional,
    None where a dataset has no groups): the group the item belongs to — for the ``folder``
    dataset the relative path of the item's folder ("" at the top level).
    """

    def __init__(
        self,
        name: str,
        load: Callable[[], np.ndarray],
        geometry: Geometry | None = None,
        group: str | None = None,
    ) -> None:
        self.name = name
        self.group = group
        self._load = load
        self._geometry = geometry or Geometry()
        self._data: np.ndarray | None = None

    @property
    def data(self) -> np.ndarray:
        if self._data is None:
            arr = np.ascontiguousarray(self._geometry.apply(self._load()), dtype=np.uint8)
            arr.setflags(write=False)
            self._data = arr
        return self._data

    def __repr__(self) -> str:
        return f"Item({self.name!r})"


@dataclass
class Dataset:
    """A named, ordered list of items plus where they come from.

    Attributes:
        name: registry name.
        kind: "image" or "video".
        source: where the files are (package and path).
        licence: licence of the content.
        items: the items (lazy-loading, see :class:`Item`).
    """

    name: str
    kind: str
    source: str
    licence: str
    items: list[Item] = field(default_factory=list)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Item:
        return self.items[i]


@dataclass(frozen=True)
class DatasetSpec:
    """Registry entry: builder plus a one-line description shown by ``semlink data list``."""

    name: str
    kind: str
    description: str
    build: Callable[..., Dataset]
    package: str | None = None  # pip distribution for optional datasets (None: installed by default)


#: name -> :class:`DatasetSpec` (plug-in packages: entry-point group ``semlink.datasets``, whose
#: object is the spec or a module that registers it)
DATASETS: Registry[DatasetSpec] = Registry("dataset", group="semlink.datasets")


def register_dataset(name: str, kind: str, description: str, package: str | None = None):
    """Decorator registering a builder ``f(geometry, max_items, **options) -> Dataset``."""

    def decorator(build: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS.register(name, DatasetSpec(name, kind, description, build, package))
        return build

    return decorator


def dataset_spec(name: str) -> DatasetSpec:
    """Registry entry of ``name``; UnknownNameError (a ValueError) listing the names if unknown."""
    return DATASETS.get(name)


def list_datasets() -> list[str]:
    """Sorted dataset names."""
    return DATASETS.names()


def parse_dataset_arg(text: str) -> tuple[str, dict[str, Any]]:
    """Command-line dataset argument -> ``(name, options)`` for :func:`get_dataset`.

    ``"photos"`` -> ``("photos", {})``; ``"folder:DIR"`` -> ``("folder", {"path": "DIR"})`` (DIR
    may itself contain ":"). The name is not checked against the registry here.

    Raises:
        ValueError: empty text, or ``folder:`` without a directory.
    """
    text = str(text).strip()
    name, sep, rest = text.partition(":")
    name = name.strip()
    if not name:
        raise ConfigError(f"dataset argument {text!r} names no dataset (use e.g. photos or folder:DIR)")
    if not sep:
        return name, {}
    if name != "folder":
        raise ConfigError(f"dataset argument {text!r}: only 'folder' takes a value after ':' (folder:DIR)")
    if not rest.strip():
        raise ConfigError(f"dataset argument {text!r}: give the directory, e.g. folder:path/to/images")
    return "folder", {"path": rest}


def get_dataset(
    name: str,
    *,
    size: int | tuple[int, int] | None = None,
    crop: int | tuple[int, int] | None = None,
    max_items: int | None = None,
    **options: Any,
) -> Dataset:
    """Build dataset ``name``.

    Args:
        size: resize (Lanczos): int = shorter side to this many pixels, aspect kept;
            (H, W) = exactly this size. Applied first.
        crop: centre crop: int = square, (H, W) = this size. Applied after ``size``.
        max_items: keep only the first ``max_items`` items (in the documented order).
        options: dataset-specific options (e.g. ``max_frames`` for clips).

    Raises:
        ValueError: unknown name or invalid option (naming it).
        DatasetUnavailable: the dataset's optional package is not installed.
    """
    spec = dataset_spec(name)
    if max_items is not None and (not isinstance(max_items, int) or max_items < 1):
        raise ConfigError(f"max_items must be a positive integer or None, got {max_items!r}")
    ds = spec.build(Geometry(size=size, crop=crop), **options)
    if max_items is not None:
        ds.items = ds.items[:max_items]
    return ds
