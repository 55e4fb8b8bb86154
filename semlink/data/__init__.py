"""Datasets that ship inside installed packages (nothing is downloaded at run time), and
``folder``: the images or videos in a folder of your own.

>>> from semlink.data import get_dataset, list_datasets
>>> ds = get_dataset("photos", max_items=2)          # items: .name, .data (uint8 [H, W, 3])
>>> clips = get_dataset("clips", max_frames=8, crop=64)   # .data uint8 [T, H, W, 3]
>>> mine = get_dataset("folder", path="my_pictures")      # your own images or videos
"""

from .registry import (
    Dataset,
    DatasetUnavailable,
    Item,
    dataset_spec,
    get_dataset,
    list_datasets,
    parse_dataset_arg,
    register_dataset,
)
from .transforms import Geometry

from . import photos, clips, vc2, folder, mixed  # noqa: E402,F401  (registers the datasets)  isort:skip

__all__ = [
    "Dataset",
    "DatasetUnavailable",
    "Geometry",
    "Item",
    "dataset_spec",
    "get_dataset",
    "list_datasets",
    "parse_dataset_arg",
    "register_dataset",
]
