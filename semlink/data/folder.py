"""``folder``: the images or the videos in a folder of the user's own files.

>>> ds = get_dataset("folder", path="my_pictures", size=256)      # CLI: --dataset folder:my_pictures

Files (extensions case-insensitive; hidden files and folders, names starting with ".", skipped;
subfolders searched unless ``recursive=False``):

* images: png, jpg, jpeg, bmp, tif, tiff — read with Pillow (first frame, EXIF orientation
  applied) and converted to uint8 RGB [H, W, 3]: greyscale -> equal channels, alpha dropped,
  palette expanded, 16-bit / 32-bit integer greyscale scaled to 8 bits (``v * 255 / 65535``).
* videos: mp4, mkv, avi, y4m, mov, webm — decoded with PyAV (first video stream) to uint8
  [T, H, W, 3]; options ``max_frames`` (default 16; None = all) frames from ``start_frame``
  (default 0), as for ``clips``.

``kind="auto"`` (default): a folder holding only images is an image dataset, only videos a video
dataset; a folder holding both needs ``kind="image"`` or ``kind="video"`` (which keep only that
kind). ``size`` / ``crop`` apply to every image / every frame.

Items are sorted by their path relative to the folder (POSIX form, "/" separators); an item's
``name`` is that path without its extension (``setA/img01``), with the extension kept for files
that would otherwise share a name (``a.png`` and ``a.jpg``). ``Item.group`` is the relative path of
the file's folder ("" at the top level). A file that cannot be decoded raises ValueError naming
it when its ``data`` is first read.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps

from .clips import DEFAULT_MAX_FRAMES, read_clip
from .registry import Dataset, Item, register_dataset
from .transforms import Geometry

from semlink.errors import ConfigError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".y4m", ".mov", ".webm")
KINDS = ("auto", "image", "video")
LICENCE = "user folder (licence of its files)"


def _to_uint8_rgb(im: Image.Image) -> np.ndarray:
    """Pillow image of any mode -> uint8 [H, W, 3]."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im).astype(np.float64)
        if mode == "I" and a.size and a.max() <= 255 and a.min() >= 0:
            g = a  # 8-bit values stored as 32-bit integers
        else:
            g = np.clip(a, 0, 65535) * (255.0 / 65535.0)
        g = np.clip(np.rint(g), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=-1)
    if mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        if a.size and a.min() >= 0 and a.max() <= 1:
            a = a * 255.0
        g = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=-1)
    if mode in ("P", "PA"):
        im = im.convert("RGBA")  # palette (with or without transparency) -> RGBA, alpha dropped below
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def load_image(path: Path) -> np.ndarray:
    """Image file -> uint8 RGB [H, W, 3] (see module docstring); ValueError naming the file if undecodable."""
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im) or im
            arr = _to_uint8_rgb(im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ConfigError(f"cannot decode image file {path}: {exc}") from None
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ConfigError(f"cannot decode image file {path}: unexpected shape {arr.shape}")
    return arr


def load_video(path: Path, max_frames: int | None = DEFAULT_MAX_FRAMES, start_frame: int = 0) -> np.ndarray:
    """Video file -> uint8 [T, H, W, 3] via :func:`semlink.data.clips.read_clip`; ValueError naming the file."""
    import av

    try:
        return read_clip(path, max_frames, start_frame)
    except (av.FFmpegError, OSError, ValueError, IndexError, RuntimeError) as exc:
        msg = str(exc)
        if str(path) in msg:
            raise ConfigError(msg) from None
        raise ConfigError(f"cannot decode video file {path}: {msg}") from None


def _hidden(rel: PurePosixPath) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def scan_folder(path: str | os.PathLike, recursive: bool = True) -> tuple[Path, list[PurePosixPath], list[PurePosixPath]]:
    """``(root, images, videos)``: absolute folder and the relative paths of its image and video
    files (sorted by POSIX path string; hidden entries skipped).

    Raises:
        ValueError: ``path`` missing or not a directory.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise ConfigError(f"dataset folder {str(path)!r} does not exist")
    if not root.is_dir():
        raise ConfigError(f"dataset folder {str(path)!r} is not a directory")
    root = root.resolve()
    images: list[PurePosixPath] = []
    videos: list[PurePosixPath] = []
    if recursive:
        candidates = []
        seen = {os.path.realpath(root)}
        # subfolders that are symbolic links (common on clusters) are followed; a link back to a
        # folder already walked (a loop, or the same data twice) is skipped
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            keep = []
            for d in dirnames:
                real = os.path.realpath(os.path.join(dirpath, d))
                if not d.startswith(".") and real not in seen:
                    seen.add(real)
                    keep.append(d)
            dirnames[:] = keep
            rel_dir = Path(dirpath).relative_to(root)
            candidates += [rel_dir / f for f in filenames]
    else:
        candidates = [p.relative_to(root) for p in root.iterdir()]
    for rel in candidates:
        rel_posix = PurePosixPath(rel.as_posix())
        if _hidden(rel_posix) or not (root / rel).is_file():
            continue
        ext = rel_posix.suffix.lower()
        if ext in IMAGE_EXTENSIONS:
            images.append(rel_posix)
        elif ext in VIDEO_EXTENSIONS:
            videos.append(rel_posix)
    key = lambda p: p.as_posix()  # noqa: E731
    return root, sorted(images, key=key), sorted(videos, key=key)


def item_names(files: list[PurePosixPath]) -> list[str]:
    """Item names: relative path without extension, the full relative path where names would clash."""
    names = [p.with_suffix("").as_posix() for p in files]
    while True:
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        clash = [i for i, n in enumerate(names) if counts[n] > 1 and n != files[i].as_posix()]
        if not clash:
            return names
        for i in clash:
            names[i] = files[i].as_posix()


def _group(rel: PurePosixPath) -> str:
    parent = rel.parent.as_posix()
    return "" if parent == "." else parent


@register_dataset("folder", "auto", "images or videos in a folder of your own (image or video decided per folder)")
def build_folder(
    geometry: Geometry,
    path: str | os.PathLike | None = None,
    kind: str = "auto",
    max_frames: int | None = DEFAULT_MAX_FRAMES,
    start_frame: int = 0,
    recursive: bool = True,
) -> Dataset:
    """The ``folder`` dataset (see module docstring).

    Raises:
        ValueError: no ``path``; path missing / not a directory / holding no matching file; a
            folder with both images and videos and ``kind="auto"``; invalid option.
    """
    if path is None or str(path) == "":
        raise ConfigError("dataset 'folder' needs a directory: path=DIR (command line: --dataset folder:DIR)")
    if kind not in KINDS:
        raise ConfigError(f"dataset 'folder': kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
        raise ConfigError(f"max_frames must be a positive integer or None, got {max_frames!r}")
    if isinstance(start_frame, bool) or not isinstance(start_frame, int) or start_frame < 0:
        raise ConfigError(f"start_frame must be a non-negative integer, got {start_frame!r}")
    root, images, videos = scan_folder(path, recursive=recursive)
    exts = f"images: {', '.join(e[1:] for e in IMAGE_EXTENSIONS)}; videos: {', '.join(e[1:] for e in VIDEO_EXTENSIONS)}"
    if kind == "auto":
        if images and videos:
            raise ConfigError(
                f"dataset folder {root} holds both images ({len(images)}) and videos ({len(videos)}); "
                'pass kind="image" or kind="video" to use one of them'
            )
        if not images and not videos:
            raise ConfigError(f"dataset folder {root} holds no image or video files ({exts})")
        kind = "image" if images else "video"
    files = images if kind == "image" else videos
    if not files:
        raise ConfigError(f"dataset folder {root} holds no {kind} files ({exts})")
    items = []
    for rel, name in zip(files, item_names(files)):
        p = root / rel
        if kind == "image":
            load = lambda p=p: load_image(p)  # noqa: E731
        else:
            load = lambda p=p: load_video(p, max_frames, start_frame)  # noqa: E731
        items.append(Item(name, load, geometry, group=_group(rel)))
    return Dataset(name="folder", kind=kind, source=str(root), licence=LICENCE, items=items)
