"""The semantic map of gan-c2f: an unsupervised, block-wise class map, coded losslessly.

No pretrained segmenter exists offline, so the map is derived without labels, from one of two
block descriptors (``features``, :data:`MAP_FEATURES`; a base layer records which one it was
trained with in its config, ``map_features``):

* ``"vgg16"`` (v2): the ImageNet VGG-16 of :mod:`semlink.nn.imagenet` (torchvision's weights,
  frozen), its relu5_3 activations (512 channels) at stride 16 -- exactly one vector per
  16x16 block of the full-resolution image -- L2-normalised (:func:`vgg16_block_features`;
  the picture is reflected by :data:`VGG_MARGIN` pixels first, so border blocks describe the
  picture rather than VGG's zero padding).
  A classifier's deep features answer "what is here" (sky, foliage, face, wall) more than
  "what colour is here": the classes follow objects and scenes, and a recoloured image keeps
  most of its map (measured: ``python -m semlink.semantic.gan_c2f.map_study``).
* ``"colour"`` (v1): the block's mean CIELAB colour (L*, a*, b*, skimage's ``rgb2lab``) and the
  standard deviation of L* inside it (texture energy), scaled by :data:`FEATURE_SCALE` so that
  the four have comparable spread (:func:`colour_block_features`).

Then, for either descriptor:

1. **Classes** (:func:`fit_centres`): K global centres found ONCE by k-means
   (``scipy.cluster.vq.kmeans2``, k-means++ init, fixed seed) over the blocks of the training
   corpus; they ship inside the model checkpoint. The class of a block is its nearest centre
   (Euclidean; :func:`label_map`), so class ``k`` means the same kind of region in every
   image, which is what a SPADE generator needs. Colour classes are ordered by lightness,
   deep classes by how often they occur in the fit (class 0 the most common).
2. **Coding** (:func:`encode_map` / :func:`decode_map`): the class indices, row-major, one byte
   each, compressed with raw DEFLATE (zlib, level 9, no zlib header): lossless; every byte of
   the result is a transmitted part (``"map"``). The decoder inflates at most ``h*w`` bytes
   (no decompression bomb) and reports, never raises, on a damaged stream. Only the encoder
   computes features: the receiver reads the map, so it never runs VGG-16.

Either way this is an unsupervised clustering, not a semantic segmentation: results name it
"unsupervised block map" (colour) or "VGG-16 k-means block map" (deep), never "segmentation".
"""

from __future__ import annotations

import zlib

import numpy as np

#: the block descriptors (module docstring)
MAP_FEATURES = ("colour", "vgg16")
#: length of one block's descriptor per kind
FEATURE_DIMS = {"colour": 4, "vgg16": 512}
#: divides (L*, a*, b*, std L*) so that each has roughly unit spread on natural photos
FEATURE_SCALE = np.array([20.0, 15.0, 15.0, 8.0])
#: side [pixels] of the seeded random crop of each training image that :func:`fit_centres`
#: describes with VGG-16 (bounds the fit's cost; the blocks keep their full-resolution scale)
FIT_CROP = 384


def check_features(features: str, block: int = 16) -> str:
    """``features`` if it names a descriptor of :data:`MAP_FEATURES` usable with ``block``, else ValueError."""
    if features not in MAP_FEATURES:
        raise ValueError(f"map_features must be one of {MAP_FEATURES}, got {features!r}")
    if features == "vgg16" and block != 16:
        raise ValueError(f"map_features 'vgg16' needs block = 16 (VGG-16 relu5_3's stride), got {block}")
    return features


def _padded(image: np.ndarray, block: int, mode: str = "edge") -> np.ndarray:
    """uint8 [h*block, w*block, 3]: ``image`` padded at the bottom and right to whole blocks
    (``mode`` as numpy's ``np.pad``)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
    H, W, _ = image.shape
    h, w = -(-H // block), -(-W // block)
    return np.pad(image, ((0, h * block - H), (0, w * block - W), (0, 0)), mode=mode)


def colour_block_features(image: np.ndarray, block: int) -> np.ndarray:
    """float64 [h, w, 4] colour features of the ``block``-pixel blocks of uint8 [H, W, 3].

    ``h = ceil(H / block)``, ``w = ceil(W / block)``; the image is edge-padded to whole blocks.
    """
    from skimage.color import rgb2lab

    img = _padded(image, block)
    h, w = img.shape[0] // block, img.shape[1] // block
    lab = rgb2lab(img).reshape(h, block, w, block, 3)
    mean = lab.mean(axis=(1, 3))
    std_l = lab[..., 0].std(axis=(1, 3))
    return np.concatenate([mean, std_l[..., None]], axis=-1) / FEATURE_SCALE


#: reflected margin [pixels, a multiple of 16] added around an image before VGG-16 and cropped
#: from its features again: without it the outermost block row and column see VGG's zero padding
#: and form a class of their own ("border") whatever the picture shows there
VGG_MARGIN = 32


def vgg16_block_features(x, margin: int = VGG_MARGIN):
    """float32 torch [B, H/16, W/16, 512]: unit-norm ImageNet VGG-16 relu5_3 vectors of float
    [B, 3, H, W] images in [0, 1] (H, W multiples of 16; CPU float32, no gradient).

    The image is first reflect-padded by ``margin`` pixels (a multiple of 16; reduced by 16s
    until it is smaller than H and W, as reflection needs) and the margin's blocks are dropped
    from the result, so border blocks describe the picture, not the network's zero padding."""
    import torch
    import torch.nn.functional as F

    from semlink.nn.imagenet import imagenet_normalise, vgg16_relu5_3

    if x.ndim != 4 or x.shape[1] != 3 or x.shape[-2] % 16 or x.shape[-1] % 16:
        raise ValueError(f"x must be float [B, 3, H, W] with H, W multiples of 16, got {tuple(x.shape)}")
    if margin < 0 or margin % 16:
        raise ValueError(f"margin must be a non-negative multiple of 16 pixels, got {margin}")
    while margin and margin >= min(x.shape[-2:]):
        margin -= 16
    m = margin // 16
    with torch.inference_mode():
        x = x.detach().float().cpu().clamp(0, 1)
        if margin:
            x = F.pad(x, (margin,) * 4, mode="reflect")
        f = vgg16_relu5_3()(imagenet_normalise(x))
        if m:
            f = f[..., m:-m, m:-m]
    f = f.permute(0, 2, 3, 1)
    return f / f.norm(dim=-1, keepdim=True).clamp_min(1e-8)


def block_features(image: np.ndarray, block: int, features: str = "colour") -> np.ndarray:
    """float64 [h, w, D] descriptors (``D = FEATURE_DIMS[features]``) of the ``block``-pixel
    blocks of uint8 [H, W, 3], padded to whole blocks: edge-replicated for ``"colour"``,
    reflected for ``"vgg16"`` (replicated rows would read as a streaked texture of their own)."""
    import torch

    check_features(features, block)
    if features == "colour":
        return colour_block_features(image, block)
    img = _padded(image, block, "reflect")
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
    return vgg16_block_features(x)[0].double().numpy()


def fit_centres(images, k: int, block: int = 16, seed: int = 0, max_blocks: int = 200_000,
                features: str = "colour") -> np.ndarray:
    """float32 [k, D] k-means centres of the block descriptors of ``images`` (uint8 [H, W, 3] each):
    :func:`sample_blocks` then :func:`kmeans_centres`. Deterministic for a given ``seed``."""
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    return kmeans_centres(sample_blocks(images, block, seed, max_blocks, features), k, seed, features)


def sample_blocks(images, block: int = 16, seed: int = 0, max_blocks: int = 200_000, features: str = "colour") -> np.ndarray:
    """float64 [n, D] descriptors of at most ``max_blocks`` blocks of ``images`` (a seeded random
    subset); ``"vgg16"`` describes a seeded random :data:`FIT_CROP`-pixel crop of each image
    (at most 100,000 blocks)."""
    check_features(features, block)
    rng = np.random.default_rng(seed)
    if features == "vgg16":
        max_blocks = min(max_blocks, 100_000)
        images = [_crop(im, FIT_CROP, rng) for im in images]
    feats = np.concatenate([block_features(im, block, features).reshape(-1, FEATURE_DIMS[features]) for im in images])
    if len(feats) > max_blocks:
        feats = feats[rng.choice(len(feats), max_blocks, replace=False)]
    return feats


def kmeans_centres(feats: np.ndarray, k: int, seed: int = 0, features: str = "colour") -> np.ndarray:
    """float32 [k, D] k-means centres (k-means++, 50 iterations, ``seed``) of descriptors [n, D];
    colour classes ordered by lightness, deep classes by frequency (most common first)."""
    from scipy.cluster.vq import kmeans2

    if len(feats) < k:
        raise ValueError(f"{len(feats)} blocks are too few for k={k} classes")
    centres, labels = kmeans2(feats, k, minit="++", seed=seed, iter=50)
    if features == "colour":
        order = np.argsort(centres[:, 0])
    else:
        order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    return centres[order].astype(np.float32)


def _crop(image: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    H, W = image.shape[:2]
    y = int(rng.integers(H - side + 1)) if H > side else 0
    x = int(rng.integers(W - side + 1)) if W > side else 0
    return image[y: y + side, x: x + side]


def nearest_centre(feats: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """uint8 [...] index of the nearest of ``centres`` [k, D] (Euclidean) for ``feats`` [..., D]."""
    c = np.asarray(centres, dtype=np.float64)
    f = np.asarray(feats, dtype=np.float64)
    d = (f**2).sum(-1, keepdims=True) - 2.0 * f @ c.T + (c**2).sum(-1)
    return d.argmin(-1).astype(np.uint8)


def label_map(image: np.ndarray, centres: np.ndarray, block: int = 16, features: str | None = None) -> np.ndarray:
    """uint8 [h, w] class of each block (nearest centre). ``features`` defaults to the kind
    whose length matches ``centres`` [k, D]."""
    if features is None:
        features = next((f for f, d in FEATURE_DIMS.items() if d == np.shape(centres)[-1]), "")
    if np.shape(centres)[-1] != FEATURE_DIMS.get(features, -1):
        raise ValueError(f"centres of length {np.shape(centres)[-1]} do not fit map_features {features!r}")
    return nearest_centre(block_features(image, block, features), centres)


def crop_labels(x, centres: np.ndarray, block: int, features: str = "colour"):
    """int64 torch [B, H/block, W/block] classes of float crops [B, 3, H, W] in [0, 1], quantised
    to 8 bits first as the codec's encoder sees them (a training helper: one VGG-16 pass per batch)."""
    import torch

    check_features(features, block)
    q = (x.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    if features == "vgg16":
        feats = vgg16_block_features(q.float().cpu() / 255.0).double().numpy()
        return torch.from_numpy(nearest_centre(feats, centres).astype(np.int64))
    imgs = q.permute(0, 2, 3, 1).cpu().numpy()
    return torch.from_numpy(np.stack([label_map(im, centres, block, "colour") for im in imgs]).astype(np.int64))


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
