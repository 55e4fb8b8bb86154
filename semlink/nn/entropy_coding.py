"""Tensors <-> rANS strings with CompressAI's entropy models (the tables they compute by ``update()``).

Encoding uses CompressAI's ``RansEncoder``; decoding uses :func:`semlink.codecs.hyperprior.rans_decode`,
the bounded decoder that never reads past a damaged string and reports failed integrity checks,
so a corrupted part decodes to (partly wrong) values and a problem string, never a crash or hang.

* :func:`eb_encode` / :func:`eb_decode`: a factorized ``EntropyBottleneck`` (one table per channel;
  symbols are ``round(y - median)``).
* :func:`gc_encode` / :func:`gc_decode`: a ``GaussianConditional`` (one table per element, chosen
  from its scale; symbols are ``round(y - mean)``).

All tensors are float32 on the CPU; shapes are ``[N, C, h, w]`` (any N).
"""

from __future__ import annotations

import numpy as np
import torch

#: bound on decoded symbols (a damaged string can produce anything)
_CLIP = 1 << 20


def _tables(module):
    from semlink.codecs.hyperprior import _entropy_tables

    return _entropy_tables(module)


def _encode(symbols: torch.Tensor, indexes: np.ndarray, tables) -> bytes:
    from semlink.codecs.hyperprior import import_compressai

    import_compressai()
    from compressai import ans

    cdf, sizes, offsets = tables
    enc = ans.RansEncoder()
    return bytes(enc.encode_with_indexes(symbols.reshape(-1).to(torch.int32).tolist(),
                                         np.asarray(indexes, dtype=np.int32).reshape(-1).tolist(),
                                         cdf.tolist(), sizes.tolist(), offsets.tolist()))


def _decode(data: bytes, indexes: np.ndarray, tables) -> tuple[np.ndarray, str]:
    from semlink.codecs.hyperprior import rans_decode

    sym, problem = rans_decode(bytes(data), np.asarray(indexes, dtype=np.int32).reshape(-1), *tables)
    return np.clip(sym, -_CLIP, _CLIP), problem


def _channel_indexes(shape) -> np.ndarray:
    n, c, h, w = shape
    return np.broadcast_to(np.arange(c, dtype=np.int32)[None, :, None, None], (n, c, h, w))


def eb_medians(eb) -> torch.Tensor:
    """[1, C, 1, 1] float32 medians of an EntropyBottleneck (what symbols are offset by)."""
    return eb._get_medians().detach().float().reshape(1, -1, 1, 1).cpu()


def eb_encode(eb, y: torch.Tensor) -> bytes:
    """rANS string of ``y`` [N, C, h, w] (unquantised latents) under EntropyBottleneck ``eb``."""
    med = eb_medians(eb)
    sym = torch.round(y.detach().float().cpu() - med)
    return _encode(sym, _channel_indexes(y.shape), _tables(eb))


def eb_decode(eb, data: bytes, shape: tuple[int, int, int, int]) -> tuple[torch.Tensor, str]:
    """(y_hat [N, C, h, w], problem) from :func:`eb_encode`'s string; ``problem`` "" = intact."""
    sym, problem = _decode(data, _channel_indexes(shape), _tables(eb))
    return torch.from_numpy(sym.astype(np.float32)).reshape(shape) + eb_medians(eb), problem


def gc_encode(gc, y: torch.Tensor, scales: torch.Tensor, means: torch.Tensor | float = 0.0) -> bytes:
    """rANS string of ``y`` under GaussianConditional ``gc`` with per-element ``scales`` (and ``means``)."""
    idx = gc.build_indexes(scales.detach().float().cpu()).numpy()
    sym = torch.round(y.detach().float().cpu() - means)
    return _encode(sym, idx, _tables(gc))


def gc_decode(gc, data: bytes, scales: torch.Tensor, means: torch.Tensor | float = 0.0) -> tuple[torch.Tensor, str]:
    """(y_hat, problem) from :func:`gc_encode`'s string, ``scales``/``means`` as at the encoder."""
    idx = gc.build_indexes(scales.detach().float().cpu()).numpy()
    sym, problem = _decode(data, idx, _tables(gc))
    return torch.from_numpy(sym.astype(np.float32)).reshape(scales.shape) + means, problem
