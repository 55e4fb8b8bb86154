"""The training video corpus: the offline natural clips, plus synthetic camera motion rendered
from the training photographs — clearly labelled synthetic.

``semlink data video-pack --out DIR`` writes ``DIR/clips/*.mkv`` (FFV1, lossless) and
``DIR/manifest.json`` (per clip: ``synthetic`` true/false, the source photo or video, the motion
and its parameters, the licence, frames, size, sha256). The ``folder`` dataset and the training
tasks read the folder like any other video folder.

* Real clips: every fetched ``video`` corpus source (``opencv-clips``: vtest.avi, tree.avi;
  ``kivy-clips``: cityCC0.mpg), cut into pieces of ``frames`` frames, scaled so that the longer
  side is at most ``max_side`` (area filter), named ``real__SOURCE__FILE__kK.mkv``.
* Synthetic clips (``synthetic__MOTION__PHOTO__N.mkv``): a ``size`` window moves over a photo of a
  training pack (:func:`render_motion`): ``pan`` (constant velocity, 0.5-5 px per frame, sub-pixel),
  ``zoom`` (scale 0.985-1.015 per frame about a point), ``rotate`` (0.1-0.6 degrees per frame
  about the window centre), or ``pan-zoom``. Bilinear resampling of a photo that was first scaled
  so that the window covers most of it. Ground truth motion is exact: the affine map of every
  frame is in the manifest.

Evaluation media never enter: the photographs come from a pack (which refuses evaluation items)
and every real clip's first, middle and last frames are compared with the evaluation items
(:func:`semlink.data.corpus.matches_evaluation`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

from semlink.cache import sha256_file

MOTIONS = ("pan", "zoom", "rotate", "pan-zoom")


def _affine(cx: float, cy: float, scale: float, angle_deg: float, out_w: int, out_h: int) -> np.ndarray:
    """2x3 map from output pixels to photo pixels: output centre -> (cx, cy), scaled by ``scale``
    (photo pixels per output pixel) and rotated by ``angle_deg``."""
    a = math.radians(angle_deg)
    c, s = math.cos(a) * scale, math.sin(a) * scale
    ox, oy = (out_w - 1) / 2.0, (out_h - 1) / 2.0
    return np.array([[c, -s, cx - c * ox + s * oy], [s, c, cy - s * ox - c * oy]], dtype=np.float64)


def render_motion(photo: np.ndarray, motion: str, frames: int, size: tuple[int, int],
                  rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A clip uint8 [frames, H, W, 3] of a ``size`` = (W, H) window moving over ``photo``
    (uint8 [h, w, 3]) with ``motion`` (one of :data:`MOTIONS`); returns (clip, parameters incl.
    the per-frame 2x3 affine maps output -> photo)."""
    import cv2

    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {', '.join(MOTIONS)}, got {motion!r}")
    out_w, out_h = size
    h, w = photo.shape[:2]
    # base scale: the window (with room for the motion) covers 55-80 % of the photo's shorter extent
    cover = rng.uniform(0.55, 0.8)
    base = min(w * cover / out_w, h * cover / out_h)
    if base < 0.5:
        raise ValueError(f"photo {w}x{h} is too small for a {out_w}x{out_h} window")
    vx = vy = zoom = spin = 0.0
    if motion in ("pan", "pan-zoom"):
        speed, direction = rng.uniform(0.5, 5.0), rng.uniform(0, 2 * math.pi)
        vx, vy = speed * math.cos(direction) * base, speed * math.sin(direction) * base
    if motion in ("zoom", "pan-zoom"):
        zoom = rng.uniform(0.985, 1.015)
    else:
        zoom = 1.0
    if motion == "rotate":
        spin = rng.uniform(0.1, 0.6) * rng.choice([-1.0, 1.0])
    angle0 = rng.uniform(-3, 3) if motion == "rotate" else 0.0
    # choose the start so that every frame's window stays inside the photo
    scales = [base * zoom**t for t in range(frames)]
    half_diag = 0.5 * math.hypot(out_w, out_h) * max(scales)
    lo_x, hi_x = half_diag + max(0.0, -vx * (frames - 1)), w - half_diag - max(0.0, vx * (frames - 1))
    lo_y, hi_y = half_diag + max(0.0, -vy * (frames - 1)), h - half_diag - max(0.0, vy * (frames - 1))
    if lo_x > hi_x or lo_y > hi_y:  # too much motion for this photo: slow it down
        vx, vy = vx / 4, vy / 4
        lo_x, hi_x = half_diag + max(0.0, -vx * (frames - 1)), w - half_diag - max(0.0, vx * (frames - 1))
        lo_y, hi_y = half_diag + max(0.0, -vy * (frames - 1)), h - half_diag - max(0.0, vy * (frames - 1))
        if lo_x > hi_x or lo_y > hi_y:
            raise ValueError(f"photo {w}x{h} leaves no room for {motion} of a {out_w}x{out_h} window")
    cx0, cy0 = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)
    out = np.empty((frames, out_h, out_w, 3), np.uint8)
    maps = []
    for t in range(frames):
        m = _affine(cx0 + vx * t, cy0 + vy * t, scales[t], angle0 + spin * t, out_w, out_h)
        maps.append(m.round(6).tolist())
        out[t] = cv2.warpAffine(photo, m, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REFLECT)
    params = {"motion": motion, "base_scale": round(base, 4), "velocity_px_per_frame": [round(vx / base, 3),
              round(vy / base, 3)], "zoom_per_frame": round(zoom, 5), "degrees_per_frame": round(spin, 4),
              "affine_out_to_photo": maps}
    return out, params


def write_ffv1(path: Path, clip: np.ndarray, fps: float = 25.0) -> None:
    """Write uint8 [T, H, W, 3] RGB as lossless FFV1 in Matroska (atomically)."""
    import av

    tmp = path.with_name(path.name + ".tmp.mkv")
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("ffv1", rate=int(round(fps)))
        s.width, s.height, s.pix_fmt = clip.shape[2], clip.shape[1], "bgr0"
        for f in clip:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    os.replace(tmp, path)


def _scale_frames(clip: np.ndarray, max_side: int) -> np.ndarray:
    import cv2

    t, h, w, _ = clip.shape
    f = min(1.0, max_side / max(h, w))
    if f >= 1.0:
        return clip
    size = (max(2, round(w * f / 2) * 2), max(2, round(h * f / 2) * 2))
    return np.stack([cv2.resize(fr, size, interpolation=cv2.INTER_AREA) for fr in clip])


def video_pack(out: Path, photos: Path, *, clips: int = 120, frames: int = 32, size: tuple[int, int] = (320, 240),
               max_side: int = 640, seed: int = 0, real_sources: tuple[str, ...] | None = None) -> dict:
    """Write the video corpus to ``out`` (see module docstring); returns the manifest.

    Args:
        photos: a training pack (``semlink data pack``) whose photographs drive the synthetic clips.
        clips: number of synthetic clips; frames: frames per clip (real clips are cut to it too);
        size: (W, H) of the synthetic clips; max_side: longer side of the real clips at most this.
        real_sources: the video corpus sources to include (default: every fetched one).
    """
    from PIL import Image

    from .clips import read_clip
    from .corpus import SOURCES, CorpusError, evaluation_fingerprints, fetched_files, matches_evaluation, verify_pack

    out = Path(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    entries = []
    fps = evaluation_fingerprints()
    names = real_sources if real_sources is not None else tuple(n for n, s in SOURCES.items() if s.kind == "video")
    for name in names:
        try:
            files = fetched_files(name)
        except CorpusError:
            if real_sources is not None:
                raise
            continue  # not fetched: the default takes what is there
        for path in files:
            video = read_clip(path)
            for t in (0, len(video) // 2, len(video) - 1):
                hit = matches_evaluation(video[t], fps)
                if hit is not None:
                    raise CorpusError(f"{path} frame {t} matches the evaluation item {hit}")
            video = _scale_frames(video, max_side)
            for k in range(len(video) // frames):
                fname = f"real__{name}__{Path(path).stem}__k{k:02d}.mkv"
                write_ffv1(out / "clips" / fname, video[k * frames:(k + 1) * frames])
                entries.append({"file": f"clips/{fname}", "synthetic": False, "source": name,
                                "licence": SOURCES[name].licence, "original": Path(path).name,
                                "first_frame": k * frames, "frames": frames, "size": list(video.shape[1:3]),
                                "sha256": sha256_file(out / "clips" / fname)})
    manifest = verify_pack(photos)
    rng = np.random.default_rng(seed)
    pool = []
    for e in manifest["images"]:
        h, w = e["size"]
        if min(h, w) >= 1.6 * size[1] and max(h, w) >= 1.6 * size[0]:
            pool.append(e)
    if clips and not pool:
        raise CorpusError(f"{photos}: no photograph large enough for {size[0]}x{size[1]} synthetic clips")
    n = 0
    attempts = 0
    while n < clips:
        attempts += 1
        if attempts > 20 * clips + 100:
            raise CorpusError(f"could not render {clips} synthetic clips from {photos}")
        e = pool[int(rng.integers(len(pool)))]
        motion = MOTIONS[int(rng.integers(len(MOTIONS)))]
        with Image.open(Path(photos) / e["file"]) as im:
            photo = np.asarray(im.convert("RGB"))
        try:
            clip, params = render_motion(photo, motion, frames, size, rng)
        except ValueError:
            continue
        stem = Path(e["file"]).stem
        fname = f"synthetic__{motion}__{stem}__{n:04d}.mkv"
        write_ffv1(out / "clips" / fname, clip)
        entries.append({"file": f"clips/{fname}", "synthetic": True, "source": e["source"], "photo": e["file"],
                        "licence": e["licence"], "frames": frames, "size": [size[1], size[0]], **params,
                        "sha256": sha256_file(out / "clips" / fname)})
        n += 1
    result = {"format": 1, "photos_pack": manifest["hash"], "seed": seed, "clips": entries,
              "synthetic": sum(e["synthetic"] for e in entries), "real": sum(not e["synthetic"] for e in entries)}
    result["hash"] = hashlib.sha256(json.dumps([(e["file"], e["sha256"]) for e in entries]).encode()).hexdigest()[:16]
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out / "manifest.json")
    return result
