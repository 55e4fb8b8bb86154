"""The one place that imports CompressAI: quietly, once, with a clear error when it is missing.

CompressAI 1.2.8 supplies the entropy models (``EntropyBottleneck``, ``GaussianConditional``),
GDN, the hyperprior architectures, its rate-distortion loss and the rANS encoder. Its package
metadata pins ``numpy<2``, which Sionna 2.x cannot use, so pip cannot install it normally;
``scripts/setup-env.sh`` installs it without dependencies (it runs fine on numpy 2)::

    pip install --no-deps compressai==1.2.8 torch-geometric==2.8.1

Every other semlink module gets CompressAI's classes from here (never ``import compressai``),
so a missing installation always ends in the same :class:`~semlink.errors.UnavailableError`
naming that command. Nothing here is imported before first use: importing this module costs
nothing.
"""

from __future__ import annotations

import functools
import warnings
from types import ModuleType

from semlink.errors import UnavailableError

#: the command that installs CompressAI next to numpy 2 (what scripts/setup-env.sh runs)
INSTALL_COMMAND = "pip install --no-deps compressai==1.2.8 torch-geometric==2.8.1"


@functools.cache
def import_compressai() -> ModuleType:
    """The ``compressai`` package, imported quietly (its import pulls torch_geometric, which warns
    about jit) with the submodules semlink uses.

    Raises:
        UnavailableError: CompressAI (or torch_geometric, which its ``__init__`` imports) is not
            installed; the message gives :data:`INSTALL_COMMAND`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import compressai
            import compressai.ans  # noqa: F401
            import compressai.entropy_models  # noqa: F401
            import compressai.layers  # noqa: F401
            import compressai.losses  # noqa: F401
            import compressai.models  # noqa: F401
            import compressai.models.google  # noqa: F401
        except ImportError as exc:
            raise UnavailableError(
                f"the learned codecs need CompressAI 1.2.8, which could not be imported ({exc})",
                hint=f"install it with `{INSTALL_COMMAND}`; plain `pip install compressai` fails "
                     f"because its metadata pins numpy<2",
            ) from None
    return compressai


def compressai_version() -> str:
    """CompressAI's version string (from the package metadata; ``"unknown"`` if absent)."""
    try:
        from importlib.metadata import version

        return version("compressai")
    except Exception:  # noqa: BLE001 - metadata of an odd installation
        return "unknown"


def entropy_bottleneck_cls() -> type:
    """``compressai.entropy_models.EntropyBottleneck`` (factorized prior, one density per channel)."""
    return import_compressai().entropy_models.EntropyBottleneck


def gaussian_conditional_cls() -> type:
    """``compressai.entropy_models.GaussianConditional`` (one table per element, chosen by its scale)."""
    return import_compressai().entropy_models.GaussianConditional


def entropy_model_cls() -> type:
    """``compressai.entropy_models.EntropyModel``: the base class of every entropy model with tables."""
    return import_compressai().entropy_models.EntropyModel


def gdn_cls() -> type:
    """``compressai.layers.GDN`` (``GDN(n, inverse=True)`` is IGDN)."""
    return import_compressai().layers.GDN


def compression_model_cls() -> type:
    """``compressai.models.base.CompressionModel`` (``update()``, ``aux_loss()``, entropy-bottleneck plumbing)."""
    return import_compressai().models.base.CompressionModel


def model_cls(arch: str) -> type:
    """A CompressAI architecture by class name, e.g. ``"ScaleHyperprior"``, ``"MeanScaleHyperprior"``."""
    return getattr(import_compressai().models, arch)


def scale_table():
    """float32 [64] Tensor: CompressAI's default scales of the Gaussian conditional's tables
    (``compressai.models.google.get_scale_table()``: 64 log-spaced values, 0.11 .. 256)."""
    return import_compressai().models.google.get_scale_table()


def rd_loss_cls() -> type:
    """``compressai.losses.RateDistortionLoss`` (``lambda * 255^2 * MSE + bpp``)."""
    return import_compressai().losses.RateDistortionLoss


def rans_encoder():
    """A fresh ``compressai.ans.RansEncoder`` (C++; ``encode_with_indexes`` returns one string)."""
    return import_compressai().ans.RansEncoder()
