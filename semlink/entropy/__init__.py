"""Entropy coding for the learned codecs: CompressAI's entropy models, rANS strings, latent coding
and checkpoints with entropy tables, in small modules with one job each.

* :mod:`.compressai_glue`: the only module that imports CompressAI (quietly; a clear
  :class:`~semlink.errors.UnavailableError` with the install command when it is missing);
* :mod:`.tables`: the quantised CDF tables of an entropy model (:class:`Tables`), their digest,
  the entropy bottleneck's medians;
* :mod:`.rans`: rANS encoding (CompressAI's ``RansEncoder``) and the bounds-checked numba decoder;
* :mod:`.latent`: latents <-> strings (:class:`FactorizedCoder`, :class:`GaussianCoder`, the
  hyperprior's "z, then scales, then y": :func:`encode_hyper` / :func:`decode_hyper`);
* :mod:`.checkpoint`: export (float16 rounding, then tables on the CPU, digest recorded) and
  load (tables stored in old files, else recomputed and checked) of every learned model.

>>> from semlink.entropy import FactorizedCoder
>>> fc = FactorizedCoder(model.entropy_bottleneck)       # after update()
>>> data = fc.encode(y)                                   # y float32 [N, C, h, w] (CPU)
>>> y_hat, problem = fc.decode(data, y.shape)             # problem "" when the string is intact

The names below are imported from their module on first use, so ``import semlink.entropy``
imports neither torch, numba nor CompressAI.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "compressai_glue": ("INSTALL_COMMAND", "import_compressai", "compressai_version", "entropy_bottleneck_cls",
                        "gaussian_conditional_cls", "entropy_model_cls", "gdn_cls", "compression_model_cls",
                        "model_cls", "scale_table", "rd_loss_cls", "rans_encoder"),
    "tables": ("TABLE_BUFFERS", "Tables", "entropy_modules", "tables_digest", "medians"),
    "rans": ("RANS_L", "PRECISION", "MAX_BYPASS_NIBBLES", "rans_encode", "rans_decode"),
    "latent": ("SYMBOL_CLIP", "WIDE_SYMBOL_CLIP", "channel_indexes", "dequantizable", "FactorizedCoder",
               "GaussianCoder", "encode_hyper", "decode_hyper"),
    "checkpoint": ("rounded_cpu_copy", "update_tables", "export_model", "load_with_tables"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
