"""Coding of quantised latents: tensors <-> rANS strings under CompressAI's entropy models.

* :class:`FactorizedCoder`: a latent under an ``EntropyBottleneck`` (one table per channel;
  symbols are ``round(y - median)``, optionally only the first ``channels`` channels).
* :class:`GaussianCoder`: a latent under a ``GaussianConditional`` (one table per element,
  chosen from its scale; symbols are ``round(y - mean)``).
* :func:`encode_hyper` / :func:`decode_hyper`: the two-level hyperprior pattern "z, then the
  scales (and means) from z_hat, then y".

Shapes: latents are float32 Tensors [N, C, h, w] on the CPU (any N); everything that decides
symbols and tables runs on the CPU in float32, in the encoder and in the decoder alike.

Damaged strings: decoding never raises. The rANS decoder (:func:`~semlink.entropy.rans.rans_decode`)
reports failed integrity checks; the symbols it produced are clipped to ``±clip`` before they
are dequantised (:func:`dequantizable`), the one clip policy of every coder (the bound is a
coder attribute: :data:`SYMBOL_CLIP` by default, :data:`WIDE_SYMBOL_CLIP` for the hyperprior's
strings, whose damaged-stream reconstructions were computed with that bound).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from .rans import rans_decode, rans_encode
from .tables import Tables, medians

if TYPE_CHECKING:
    from torch import Tensor

#: bound on decoded symbols (a damaged string can produce any int32): the default of every coder
SYMBOL_CLIP = 1 << 20
#: the bound of the hyperprior codec's (and gan-c2f enhancement layer's) strings; valid symbols
#: are far below both, so only damaged strings see the difference
WIDE_SYMBOL_CLIP = 1 << 24

#: (scales, means) of y's Gaussian conditional from the dequantised hyper-latent z_hat
HyperParams = Callable[["Tensor"], "tuple[Tensor, Tensor | float]"]


def channel_indexes(shape) -> np.ndarray:
    """int32 [N * C * h * w]: the table index (= channel) of every element of a factorized
    latent of ``shape`` (N, C, h, w), flattened in C order."""
    n, c, h, w = (int(v) for v in shape)
    return np.broadcast_to(np.arange(c, dtype=np.int32)[None, :, None, None], (n, c, h, w)).reshape(-1)


def dequantizable(symbols: np.ndarray, clip: int = SYMBOL_CLIP) -> np.ndarray:
    """float32 copy of decoded symbols clipped to [-clip, clip] (the damaged-symbol policy)."""
    return np.clip(np.asarray(symbols), -clip, clip).astype(np.float32)


class FactorizedCoder:
    """Codes a latent under one ``EntropyBottleneck``; its tables and medians are read once.

    Args:
        eb: the entropy bottleneck (CPU, after ``update()``).
        clip: bound of decoded symbols (:func:`dequantizable`).
    """

    def __init__(self, eb, *, clip: int = SYMBOL_CLIP) -> None:
        self.tables = Tables.of(eb)
        self.medians = medians(eb)  # float32 [1, C, 1, 1]
        self.clip = int(clip)

    @property
    def channels(self) -> int:
        """Channels C of the latent (one table each)."""
        return len(self.tables)

    def symbols(self, y, channels: int | None = None):
        """int32 [N, c, h, w] symbols ``round(y - median)`` of the first ``channels`` (default all)
        channels of ``y`` [N, C, h, w]."""
        import torch

        with torch.inference_mode():
            sym = torch.round(y.detach().float().cpu() - self.medians)
            if channels is not None:
                sym = sym[:, :channels]
            return sym.to(torch.int32)

    def dequantize(self, symbols, shape):
        """float32 [N, c, h, w] latent ``symbol + median`` (first c channels) from symbols of that
        shape (an int Tensor or array, e.g. :meth:`symbols` or the decoder's), clipped first."""
        import torch

        n, c, h, w = (int(v) for v in shape)
        with torch.inference_mode():
            return torch.from_numpy(dequantizable(symbols, self.clip)).reshape(n, c, h, w) + self.medians[:, :c]

    def encode_symbols(self, symbols) -> bytes:
        """rANS string of int symbols [N, c, h, w] (channel i coded with table i)."""
        return rans_encode(symbols, channel_indexes(symbols.shape), self.tables)

    def encode(self, y, channels: int | None = None) -> bytes:
        """rANS string of the first ``channels`` (default all) channels of ``y`` [N, C, h, w]."""
        return self.encode_symbols(self.symbols(y, channels))

    def decode_symbols(self, data: bytes, shape) -> tuple[np.ndarray, str]:
        """(int64 symbols [N * c * h * w] (not clipped), problem) of a string of :meth:`encode`
        for a latent of ``shape`` (N, c, h, w); ``problem`` is "" when the string is intact."""
        return rans_decode(bytes(data), channel_indexes(shape), self.tables)

    def decode(self, data: bytes, shape) -> tuple[Tensor, str]:
        """(y_hat float32 [N, c, h, w], problem) from a string of :meth:`encode`; ``problem`` ""
        when intact, else what the rANS integrity check found (y_hat is then partly wrong)."""
        sym, problem = self.decode_symbols(data, shape)
        return self.dequantize(sym, shape), problem


class GaussianCoder:
    """Codes a latent under one ``GaussianConditional``, given its scales (and means).

    Args:
        gc: the Gaussian conditional (CPU, after ``update_scale_table()``).
        clip: bound of decoded symbols (:func:`dequantizable`).
    """

    def __init__(self, gc, *, clip: int = SYMBOL_CLIP) -> None:
        self.gc = gc
        self.tables = Tables.of(gc)
        self.clip = int(clip)

    def indexes(self, scales) -> np.ndarray:
        """int32 [numel]: the table of every element, from its scale (``scales`` any shape)."""
        import torch

        with torch.inference_mode():
            return self.gc.build_indexes(scales.detach().float().cpu()).reshape(-1).numpy()

    def symbols(self, y, means=0.0):
        """int32 symbols ``round(y - means)`` (shape of ``y``)."""
        import torch

        with torch.inference_mode():
            return torch.round(y.detach().float().cpu() - means).to(torch.int32)

    def encode(self, y, scales, means=0.0) -> bytes:
        """rANS string of ``y`` with per-element ``scales`` (and ``means``: a Tensor or 0), all
        of one shape."""
        return rans_encode(self.symbols(y, means), self.indexes(scales), self.tables)

    def decode(self, data: bytes, scales, means=0.0) -> tuple[Tensor, str]:
        """(y_hat float32 of the shape of ``scales``, problem) from a string of :meth:`encode`
        with the encoder's ``scales`` and ``means``; ``problem`` "" when intact."""
        import torch

        sym, problem = rans_decode(bytes(data), self.indexes(scales), self.tables)
        with torch.inference_mode():
            return torch.from_numpy(dequantizable(sym, self.clip)).reshape(scales.shape) + means, problem


def encode_hyper(z_coder: FactorizedCoder, y_coder: GaussianCoder, y, z, params: HyperParams) -> tuple[bytes, bytes]:
    """(z string, y string) of a hyperprior latent: z [N, C_z, h_z, w_z] under ``z_coder``, then
    y under ``y_coder`` with ``params(z_hat) -> (scales, means)`` of the dequantised z_hat, as
    the decoder computes them (:func:`decode_hyper`)."""
    import torch

    z_sym = z_coder.symbols(z)
    z_hat = z_coder.dequantize(z_sym, z_sym.shape)
    with torch.inference_mode():
        scales, means = params(z_hat)
    return z_coder.encode_symbols(z_sym), y_coder.encode(y, scales, means)


def decode_hyper(z_coder: FactorizedCoder, y_coder: GaussianCoder, z_str: bytes, y_str: bytes, z_shape,
                 params: HyperParams) -> tuple[Tensor, tuple[str, str]]:
    """(y_hat, (z problem, y problem)) from the strings of :func:`encode_hyper`; ``z_shape`` is
    (N, C_z, h_z, w_z), y_hat has the shape of the scales ``params`` gives. Never raises on
    damaged strings: they decode to wrong values and a non-empty problem."""
    import torch

    z_hat, pz = z_coder.decode(z_str, z_shape)
    with torch.inference_mode():
        scales, means = params(z_hat)
    y_hat, py = y_coder.decode(y_str, scales, means)
    return y_hat, (pz, py)
