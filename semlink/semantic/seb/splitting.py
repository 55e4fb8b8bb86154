"""Image set splitting (Sec. II-A, eq. 1): projector f_alpha + k-means into J subsets, J from the inertia.

The paper's projector is a frozen, contrastively pretrained ResNet-50 (SimSiam weights) used as an
invariant image descriptor; those weights do not exist offline. Two projectors here
(:data:`PROJECTORS`):

* ``"imagenet"`` (default, :func:`imagenet_projections`): torchvision's ImageNet VGG-16 (the
  offline weights of :mod:`semlink.nn.imagenet`, frozen), the global average of its last
  convolutional stage (relu5_3, 512 channels) over the image resized to a shorter side of
  :data:`PROJECTOR_SIDE` pixels, L2-normalised. The closest offline stand-in for the paper's
  network: an ImageNet classifier's deep features, which follow objects and scenes rather than
  colours. Not the paper's ResNet-50/SimSiam.
* ``"seb"`` (v1, :func:`projections`): the mean of the image's patches' Seb-generator outputs F
  (un-gained), L2-normalised: no extra network, but it sees the codec's own latents (colour and
  texture of 32x32 blocks), not semantics.

Only the transmitter splits (the subset of each image is sent in the set header), so the
projector is the encoder's choice and any receiver decodes either.

**J rule** (:func:`choose_j`): k-means for J = 1 .. J_max (J_max = min(n, 8)); J is the
smallest J whose next subset would explain less than ``min_gain`` (10 %) of the one-subset
inertia: ``(I(J) - I(J+1)) / I(1) < min_gain``. Identical projections give J = 1.
"""

from __future__ import annotations

import numpy as np
import torch

#: a further subset must explain at least this fraction of the one-subset inertia
MIN_GAIN = 0.10
#: most subsets tried
J_MAX = 8
#: the projectors of eq. 1 (module docstring)
PROJECTORS = ("imagenet", "seb")
#: shorter side [pixels] of the image the ImageNet projector sees (ImageNet's training scale)
PROJECTOR_SIDE = 224


@torch.inference_mode()
def imagenet_projections(images: list[torch.Tensor]) -> np.ndarray:
    """f_alpha of the ``"imagenet"`` projector: float32 [n, 512] unit vectors, the spatial mean of
    ImageNet VGG-16's relu5_3 features of each image resized (bilinear, antialiased) to a shorter
    side of :data:`PROJECTOR_SIDE` pixels and normalised with the ImageNet mean / std.

    ``images``: float [1, 3, H, W] tensors in [0, 1] (any size)."""
    import torch.nn.functional as F

    from semlink.nn.imagenet import imagenet_normalise, vgg16_relu5_3

    trunk = vgg16_relu5_3()
    out = []
    for x in images:
        h, w = x.shape[-2:]
        scale = PROJECTOR_SIDE / min(h, w)
        size = (max(32, round(h * scale)), max(32, round(w * scale)))
        x = F.interpolate(x.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
        f = trunk(imagenet_normalise(x.clamp(0, 1))).mean(dim=(2, 3))[0]
        out.append((f / f.norm().clamp_min(1e-8)).numpy())
    return np.stack(out).astype(np.float32)


def project(projector: str, model, images: list[torch.Tensor]) -> np.ndarray:
    """f_alpha of eq. 1 by ``projector`` (:data:`PROJECTORS`): float32 [n, D] unit vectors."""
    if projector == "imagenet":
        return imagenet_projections(images)
    if projector == "seb":
        return projections(model, images)
    raise ValueError(f"projector must be one of {PROJECTORS}, got {projector!r}")


@torch.inference_mode()
def projections(model, images: list[torch.Tensor]) -> np.ndarray:
    """f_alpha of the ``"seb"`` projector: float32 [n, D] unit vectors, the mean Seb-generator output of each image's patches.

    ``images``: float [1, 3, H, W] tensors in [0, 1], H and W multiples of 32."""
    from .model import divide

    out = []
    for x in images:
        f = model.seb_gen(divide(x)).float().flatten(1).mean(0)
        out.append((f / f.norm().clamp_min(1e-8)).numpy())
    return np.stack(out).astype(np.float32)


def _kmeans(p: np.ndarray, j: int, seed: int):
    from sklearn.cluster import KMeans
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km = KMeans(n_clusters=j, n_init=4, random_state=seed).fit(p)
    return km.labels_.astype(np.int64), float(km.inertia_)


def choose_j(p: np.ndarray, j_max: int = J_MAX, min_gain: float = MIN_GAIN, seed: int = 0) -> tuple[int, np.ndarray, list[float]]:
    """(J, subset labels [n] in 0..J-1, inertias I(1..J_max')) by the rule in the module docstring."""
    n = len(p)
    j_max = max(1, min(int(j_max), n, len(np.unique(p.round(6), axis=0))))
    labels = [np.zeros(n, dtype=np.int64)]
    inertias = [float(((p - p.mean(0)) ** 2).sum())]
    for j in range(2, j_max + 1):
        lab, ine = _kmeans(p, j, seed)
        labels.append(lab)
        inertias.append(ine)
    total = inertias[0]
    j = 1
    if total > 1e-12:
        while j < len(inertias) and (inertias[j - 1] - inertias[j]) / total >= min_gain:
            j += 1
    return j, _relabel(labels[j - 1]), inertias


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Subset indices in order of first appearance (0 for the first image's subset, ...)."""
    order = {}
    for v in labels.tolist():
        order.setdefault(v, len(order))
    return np.array([order[v] for v in labels.tolist()], dtype=np.int64)


def split(p: np.ndarray, rule: str | int = "inertia", seed: int = 0) -> np.ndarray:
    """Subset labels [n]: ``"inertia"`` (:func:`choose_j`), ``"none"`` (one subset), or an int J."""
    n = len(p)
    if rule == "none":
        return np.zeros(n, dtype=np.int64)
    if rule == "inertia":
        return choose_j(p, seed=seed)[1]
    if isinstance(rule, int) and not isinstance(rule, bool) and rule >= 1:
        j = min(rule, n)
        return np.zeros(n, dtype=np.int64) if j == 1 else _relabel(_kmeans(p, j, seed)[0])
    raise ValueError(f"split must be 'inertia', 'none' or a positive int J, got {rule!r}")
