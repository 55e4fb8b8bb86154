"""Entropy-coder tables: what CompressAI's entropy models compute by ``update()`` and what the
rANS coder reads, plus their digest and the entropy bottleneck's medians.

An entropy model (``EntropyBottleneck``, ``GaussianConditional``) holds ``n`` quantised CDFs:
row ``i`` codes the symbols of table index ``i`` (a channel of a factorized latent; a scale
bucket of a Gaussian-conditional one). Units: CDF values are integers in [0, 2^16]
(:data:`semlink.entropy.rans.PRECISION` bits); a symbol ``s`` of table ``i`` stands for the
integer value ``s + offsets[i]``; the last coded symbol ``sizes[i] - 2`` is the escape to
bypass coding (values outside the table).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: the entropy models' table buffers: recomputed by ``update()`` at load, not stored in new checkpoints
TABLE_BUFFERS = ("_quantized_cdf", "_cdf_length", "_offset")


@dataclass(frozen=True, eq=False)
class Tables:
    """The quantised CDF tables of one entropy model (C-contiguous numpy arrays).

    Attributes:
        cdf: int32 [n, L]: row i is table i's CDF (L = the longest table + 1; rows are zero padded).
        sizes: int32 [n]: the used length of each row (number of symbols + 1).
        offsets: int64 [n]: the integer value of symbol 0 of each table.
    """

    cdf: np.ndarray
    sizes: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "cdf", np.ascontiguousarray(self.cdf, dtype=np.int32))
        object.__setattr__(self, "sizes", np.ascontiguousarray(np.reshape(self.sizes, -1), dtype=np.int32))
        object.__setattr__(self, "offsets", np.ascontiguousarray(np.reshape(self.offsets, -1), dtype=np.int64))

    @classmethod
    def of(cls, module) -> "Tables":
        """The tables of a CompressAI entropy model (after its ``update()``; CPU copies)."""
        return cls(module._quantized_cdf.detach().cpu().numpy(), module._cdf_length.detach().cpu().numpy(),
                   module._offset.detach().cpu().numpy())

    def __len__(self) -> int:
        """Number of tables n."""
        return int(self.cdf.shape[0])

    @cached_property
    def lists(self) -> tuple[list, list, list]:
        """(cdf, sizes, offsets) as Python lists: the arguments of CompressAI's ``RansEncoder``
        (converted once per Tables)."""
        return self.cdf.tolist(), self.sizes.tolist(), self.offsets.tolist()


def entropy_modules(model) -> list:
    """The entropy models (``EntropyBottleneck``, ``GaussianConditional``, ...) of ``model`` in
    ``named_modules()`` order (``model`` itself when it is one)."""
    from .compressai_glue import entropy_model_cls

    base = entropy_model_cls()
    return [m for _, m in model.named_modules() if isinstance(m, base)]


def tables_digest(model) -> str:
    """sha256 (16 hex digits) of the tables of every entropy model of ``model`` (after
    ``update()``), in ``named_modules()`` order: for a hyperprior, its entropy bottleneck's then
    its Gaussian conditional's (cdf, sizes, offsets) bytes."""
    h = hashlib.sha256()
    for mod in entropy_modules(model):
        t = Tables.of(mod)
        for arr in (t.cdf, t.sizes, t.offsets):
            h.update(arr.tobytes())
    return h.hexdigest()[:16]


def medians(eb):
    """float32 [1, C, 1, 1] CPU Tensor (no gradient): the medians of an ``EntropyBottleneck``'s
    densities, around which its latent is quantised (symbols are ``round(y - median)``)."""
    return eb._get_medians().detach().float().reshape(1, -1, 1, 1).cpu()
