"""The semantic map of gan-c2f: an unsupervised, block-wise class map, coded losslessly.

No pretrained segmenter is available offline, so the map is derived without labels:

1. **Block features** (:func:`block_features`): the image is cut into ``block x block`` pixel
   blocks (default 16, the base latent's resolution); each block is described by four
   numbers: its mean CIELAB colour (L*, a*, b*, skimage's ``rgb2lab``) and the standard
   deviation of L* inside the block (texture energy), scaled by :data:`FEATURE_SCALE` so that
   the four have comparable spread.
2. **Classes** (:func:`fit_centres`): K global centres found ONCE by k-means
   (``scipy.cluster.vq.kmeans2``, k-means++ init, fixed seed) over the blocks of the training
   corpus; they ship inside the model checkpoint. The class of a block is its nearest centre
   (:func:`label_map`), so class ``k`` means the same kind of region ("bright smooth blue",
   "dark green texture") in every image, which is what a SPADE generator needs.
3. **Coding** (:func:`encode_map` / :func:`decode_map`): the class indices, row-major, one byte
   each, compressed with raw DEFLATE (zlib, level 9, no zlib header): lossless; every byte of
   the result is a transmitted part (``"map"``). The decoder inflates at most ``h*w`` bytes
   (no decompression bomb) and reports, never raises, on a damaged stream.

This is a colour/texture clustering, not a semantic segmentation: it is named "unsupervised
block map" in every result, never "segmentation".
"""

from __future__ import annotations

import zlib

import numpy as np

#: divides (L*, a*, b*, std L*) so that each has roughly unit spread on natural photos
FEATURE_SCALE = np.array([20.0, 15.0, 15.0, 8.0])


def block_features(image: np.ndarray, block: int) -> np.ndarray:
    """float64 [h, w, 4] features of the ``block``-pixel blocks of uint8 [H, W, 3].

    ``h = ceil(H / block)``, ``w = ceil(W / block)``; the image is edge-padded to whole blocks.
    """
    from skimage.color import rgb2lab

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
    H, W, _ = image.shape
    h, w = -(-H // block), -(-W // block)
    img = np.pad(image, ((0, h * block - H), (0, w * block - W), (0, 0)), mode="edge")
    lab = rgb2lab(img).reshape(h, block, w, block, 3)
    mean = lab.mean(axis=(1, 3))
    std_l = lab[..., 0].std(axis=(1, 3))
    return np.concatenate([mean, std_l[..., None]], axis=-1) / FEATURE_SCALE


def fit_centres(images, k: int, block: int = 16, seed: int = 0, max_blocks: int = 200_000) -> np.ndarray:
    """float32 [k, 4] k-means centres of the block features of ``images`` (uint8 [H, W, 3] each).

    Deterministic for a given ``seed``; at most ``max_blocks`` blocks (a seeded random subset)."""
    from scipy.cluster.vq import kmeans2

    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    feats = np.concatenate([block_features(im, block).reshape(-1, 4) for im in images])
    rng = np.random.default_rng(seed)
    if len(feats) > max_blocks:
        feats = feats[rng.choice(len(feats), max_blocks, replace=False)]
    if len(feats) < k:
        raise ValueError(f"{len(feats)} blocks are too few for k={k} classes")
    centres, _ = kmeans2(feats, k, minit="++", seed=seed, iter=50)
    # order classes by lightness so that class ids are stable and readable
    return centres[np.argsort(centres[:, 0])].astype(np.float32)


def label_map(image: np.ndarray, centres: np.ndarray, block: int = 16) -> np.ndarray:
    """uint8 [h, w] class of each block (nearest centre, Euclidean in the scaled features)."""
    f = block_features(image, block)
    d = ((f[:, :, None, :] - np.asarray(centres, dtype=np.float64)[None, None]) ** 2).sum(-1)
    return d.argmin(-1).astype(np.uint8)


def encode_map(labels: np.ndarray) -> bytes:
    """Raw DEFLATE (level 9) of the row-major uint8 class indices: the ``"map"`` part."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    return c.compress(np.ascontiguousarray(labels, dtype=np.uint8).tobytes()) + c.flush()


def decode_map(data: bytes, h: int, w: int, k: int) -> tuple[np.ndarray, str]:
    """(uint8 [h, w] labels, problem) from a received ``"map"`` part; never raises.

    Inflates at most ``h*w`` bytes. ``problem`` is "" for an intact stream, else what was
    wrong; missing labels are 0 and labels >= ``k`` are clipped to ``k - 1``."""
    out = np.zeros(h * w, dtype=np.uint8)
    problems = []
    try:
        d = zlib.decompressobj(-15)
        raw = d.decompress(bytes(data), h * w)
        if not d.eof:
            problems.append("DEFLATE stream incomplete")
        elif d.unused_data:
            problems.append(f"{len(d.unused_data)} trailing bytes")
    except zlib.error as exc:
        raw = b""
        problems.append(f"DEFLATE error: {exc}")
    n = min(len(raw), h * w)
    out[:n] = np.frombuffer(raw[:n], dtype=np.uint8)
    if n < h * w and not problems:
        problems.append(f"{h * w - n} labels missing")
    bad = out >= k
    if bad.any():
        problems.append(f"{int(bad.sum())} labels >= {k}")
        out[bad] = k - 1
    return out.reshape(h, w), "; ".join(problems)


def one_hot(labels, k: int):
    """torch float [B, k, h, w] from labels int [B, h, w] (torch) or uint8 [h, w] (numpy)."""
    import torch
    import torch.nn.functional as F

    t = torch.as_tensor(np.asarray(labels) if isinstance(labels, np.ndarray) else labels).long()
    if t.ndim == 2:
        t = t[None]
    return F.one_hot(t.clamp(0, k - 1), k).permute(0, 3, 1, 2).float()
