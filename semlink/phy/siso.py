"""Fast single-antenna (SISO) receiver pieces: per-resource-element equalization and Gray-QAM
soft demapping, as plain functions on numpy arrays (or torch tensors).

They reproduce Sionna 2.x for the 1 x 1 case:

* :func:`equalize_lmmse` / :func:`equalize_zf` match ``sionna.phy.ofdm.LMMSEEqualizer`` /
  ``ZFEqualizer`` (``sionna.phy.mimo.lmmse_equalizer`` / ``zf_equalizer``). The OFDM wrappers
  fold the channel-estimation error variance into the noise covariance,
  ``s = no + err_var`` (one stream, no interference); the unbiased LMMSE estimate of a
  unit-energy symbol and ZF then coincide for one antenna::

      x_hat = y / h_hat,     no_eff = (no + err_var) / |h_hat|^2

  (Sionna's LMMSE computes ``no_eff = 1/d - 1`` with ``d = |h'|^2 / (|h'|^2 + 1)``, which is
  the same number up to float32 cancellation.) Where ``h_hat == 0`` this module returns
  ``x_hat = 0`` and ``no_eff = inf`` (so the LLRs are 0), where Sionna would give NaN.
* :func:`demap_qam` matches ``sionna.phy.mapping.Demapper(method, "qam", k)`` with the
  constellation ``Constellation("qam", k)`` (same Gray labels, unit average energy) and
  Sionna's sign convention ``llr = log P(b=1 | y) / P(b=0 | y)``. Because the QAM points are
  the product of two Gray PAMs (even label bits on I, odd label bits on Q), the exact ``"app"``
  LLR and ``"maxlog"`` of each bit only involve the PAM levels of its own dimension
  (sqrt(M) = 2, 4 or 8 of them), which is what is computed here.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
from numba import prange

__all__ = [
    "qam_constellation", "pam_levels", "demap_qam", "equalize_lmmse", "equalize_zf",
    "NO_THRESHOLD",
]

#: Smallest noise variance used by the demapper (Sionna clamps ``no`` to float32 ``tiny``).
NO_THRESHOLD = float(np.finfo(np.float32).tiny)

_BITS = {"qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8}


def _num_bits(num_bits_per_symbol) -> int:
    if isinstance(num_bits_per_symbol, str):
        key = num_bits_per_symbol.lower().replace("-", "")
        if key not in _BITS:
            raise ValueError(f"unknown modulation {num_bits_per_symbol!r}; one of {sorted(_BITS)}")
        return _BITS[key]
    k = int(num_bits_per_symbol)
    if k < 2 or k % 2:
        raise ValueError(f"QAM needs an even number of bits per symbol >= 2, got {k}")
    return k


def _pam_gray(b) -> int:
    """Sionna's ``pam_gray``: Gray-labelled PAM amplitude (odd integer) of the bit vector b."""
    if len(b) > 1:
        return (1 - 2 * b[0]) * (2 ** len(b[1:]) - _pam_gray(b[1:]))
    return 1 - 2 * b[0]


@lru_cache(maxsize=None)
def pam_levels(num_bits_per_symbol: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension PAM of ``Constellation("qam", k)``.

    Returns ``(levels float64 [2**(k/2)], labels uint8 [2**(k/2), k/2])``: level ``p`` carries
    the label bits ``labels[p]`` (MSB first), already scaled by the QAM normalization.
    """
    k = _num_bits(num_bits_per_symbol)
    m = k // 2
    n = k // 2
    energy = 1 / (2 ** (n - 2)) * np.sum(np.linspace(1, 2**n - 1, 2 ** (n - 1)) ** 2)
    labels = np.array([[(p >> (m - 1 - j)) & 1 for j in range(m)] for p in range(2**m)], np.uint8)
    levels = np.array([_pam_gray([int(v) for v in labels[p]]) for p in range(2**m)], np.float64) / np.sqrt(energy)
    levels.setflags(write=False)
    labels.setflags(write=False)
    return levels, labels


@lru_cache(maxsize=None)
def qam_constellation(num_bits_per_symbol: int) -> np.ndarray:
    """complex64 [2**k] points of ``sionna.phy.mapping.Constellation("qam", k)`` (index = label,
    MSB first; even label bits select the real PAM level, odd bits the imaginary one)."""
    k = _num_bits(num_bits_per_symbol)
    levels, _ = pam_levels(k)
    m = k // 2
    pts = np.empty(2**k, np.complex128)
    for i in range(2**k):
        b = [(i >> (k - 1 - j)) & 1 for j in range(k)]
        re = int("".join(map(str, b[0::2])), 2)
        im = int("".join(map(str, b[1::2])), 2)
        pts[i] = levels[re] + 1j * levels[im]
    del m
    out = pts.astype(np.complex64)
    out.setflags(write=False)
    return out


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def demap_qam(y, no, num_bits_per_symbol, method: str = "maxlog"):
    """Soft demapping of Gray QAM: complex y [...] and noise variance no (broadcastable to y)
    -> float32 LLRs [..., k] with ``llr = log P(1)/P(0)``; reshape to ``[..., n * k]`` for the
    bit stream (the bit order is the label order, MSB first, as Sionna's ``Demapper``).

    ``method``: ``"maxlog"`` or ``"app"`` (exact log-sum-exp). Works on numpy arrays or torch
    tensors (any device; the result has the type of ``y``).
    """
    if method not in ("maxlog", "app"):
        raise ValueError(f"method must be 'maxlog' or 'app', got {method!r}")
    k = _num_bits(num_bits_per_symbol)
    if _is_torch(y):
        if y.device.type == "cpu" and not y.requires_grad and k <= _NUMBA_MAX_BITS:
            import torch

            no_np = no.detach().cpu().numpy() if _is_torch(no) else no
            out = _demap_qam_numba(y.detach().resolve_conj().numpy(), no_np, k, method)
            if out is not None:
                return torch.from_numpy(out)
        return _demap_qam_torch(y, no, k, method)
    if k <= _NUMBA_MAX_BITS:
        out = _demap_qam_numba(y, no, k, method)
        if out is not None:
            return out
    return _demap_qam_numpy(y, no, k, method)


def _demap_qam_numpy(y, no, k, method):
    y = np.asarray(y)
    if not np.iscomplexobj(y):
        y = y.astype(np.complex64)
    fdt = np.float64 if y.dtype == np.complex128 else np.float32
    no = np.maximum(np.asarray(no, dtype=fdt), fdt(NO_THRESHOLD))
    levels, labels = pam_levels(k)
    lv = levels.astype(fdt)
    m = k // 2
    inv = (fdt(1.0) / no)[..., None]
    out = np.empty(y.shape + (k,), dtype=np.float32)
    for d, comp in enumerate((y.real, y.imag)):
        # exponents -(x - level)^2 / no, [..., P]
        e = -np.square(comp[..., None].astype(fdt) - lv) * inv
        for j in range(m):
            one = labels[:, j] == 1
            e1, e0 = e[..., one], e[..., ~one]
            if method == "maxlog":
                llr = e1.max(-1) - e0.max(-1)
            else:
                llr = _lse(e1) - _lse(e0)
            out[..., 2 * j + d] = llr
    return out


# ----------------------------------------------------------------------------- numba kernel
_NUMBA_MAX_BITS = 8  # per-axis PAM of up to 16 levels (the kernel's scratch size)


def _demap_qam_numba(y, no, k, method):
    """Numba kernel for numpy / CPU inputs; None where it does not apply (then numpy does it).

    Per symbol and axis, with e_p = -(x - level_p)^2 / no:

    * maxlog: llr_j = max_{p: b_j = 1} e_p - max_{p: b_j = 0} e_p;
    * app: with M = max_p e_p and s_p = exp(e_p - M) (one exp per level),
      llr_j = log(sum_{b_j = 1} s_p / sum_{b_j = 0} s_p) (one log per bit). The group holding M
      sums to >= 1; where the other group's sum falls below 1e-30 (float32) / 1e-300 (float64),
      i.e. its terms underflow, that bit is recomputed with its own group maximum,
      (M1 - M0) + log(sum_1 exp(e - M1)) - log(sum_0 exp(e - M0)), as logsumexp does.

    Same arithmetic precision as the numpy path (float32 for complex64 inputs, float64 for
    complex128); runs on numba's threads (``prange`` over blocks of symbols).
    """
    y = np.asarray(y)
    if y.dtype == np.complex64:
        fdt = np.float32
    elif y.dtype == np.complex128:
        fdt = np.float64
    else:
        return None
    no = np.asarray(no, dtype=fdt)
    try:
        shape = np.broadcast_shapes(y.shape, no.shape)
    except ValueError:
        return None
    if shape != y.shape:
        return None
    yf = np.ascontiguousarray(y).reshape(-1)
    if no.size == 1:
        nof = no.reshape(1)
        scalar = True
    else:
        nof = np.ascontiguousarray(np.broadcast_to(no, y.shape)).reshape(-1)
        scalar = False
    levels, labels = pam_levels(k)
    out = np.empty((yf.shape[0], k), dtype=np.float32)
    if yf.shape[0]:
        tiny = fdt(1e-30) if fdt == np.float32 else fdt(1e-300)
        _demap_kernel(yf, nof, scalar, levels.astype(fdt), np.ascontiguousarray(labels),
                      method == "app", fdt(NO_THRESHOLD), tiny,
                      int(min(yf.shape[0], 16 * numba.get_num_threads())), out)
    return out.reshape(y.shape + (k,))


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _demap_kernel(y, no, scalar_no, lv, labels, app, no_min, tiny, n_chunks, out):
    n = y.shape[0]
    n_lv = lv.shape[0]
    m = labels.shape[1]
    one = tiny / tiny
    zero = tiny - tiny
    neg_inf = -(one / zero)
    for ch in prange(n_chunks):
        e = np.empty(16, dtype=lv.dtype)
        s = np.empty(16, dtype=lv.dtype)
        i0 = (n * ch) // n_chunks
        i1 = (n * (ch + 1)) // n_chunks
        for i in range(i0, i1):
            nv = no[0] if scalar_no else no[i]
            inv = one / max(nv, no_min)
            for d in range(2):
                x = y[i].real if d == 0 else y[i].imag
                mx = neg_inf
                for p in range(n_lv):
                    t = x - lv[p]
                    e[p] = -(t * t) * inv
                    mx = max(mx, e[p])
                if app:
                    for p in range(n_lv):
                        s[p] = np.exp(e[p] - mx)
                for j in range(m):
                    if app:
                        s1 = zero
                        s0 = zero
                        for p in range(n_lv):
                            if labels[p, j]:
                                s1 += s[p]
                            else:
                                s0 += s[p]
                        if s1 >= tiny and s0 >= tiny:
                            llr = np.log(s1 / s0)
                        else:  # a group underflowed: logsumexp with per-group maxima
                            m1 = neg_inf
                            m0 = neg_inf
                            for p in range(n_lv):
                                if labels[p, j]:
                                    m1 = max(m1, e[p])
                                else:
                                    m0 = max(m0, e[p])
                            s1 = zero
                            s0 = zero
                            for p in range(n_lv):
                                if labels[p, j]:
                                    s1 += np.exp(e[p] - m1)
                                else:
                                    s0 += np.exp(e[p] - m0)
                            llr = (m1 - m0) + (np.log(s1) - np.log(s0))
                    else:
                        m1 = neg_inf
                        m0 = neg_inf
                        for p in range(n_lv):
                            if labels[p, j]:
                                m1 = max(m1, e[p])
                            else:
                                m0 = max(m0, e[p])
                        llr = m1 - m0
                    out[i, 2 * j + d] = llr


def _lse(e: np.ndarray) -> np.ndarray:
    mx = e.max(-1)
    return mx + np.log(np.exp(e - mx[..., None]).sum(-1))


def _demap_qam_torch(y, no, k, method):
    import torch

    fdt = torch.float64 if y.dtype == torch.complex128 else torch.float32
    no = torch.as_tensor(no, dtype=fdt, device=y.device).clamp_min(NO_THRESHOLD)
    levels, labels = pam_levels(k)
    lv = torch.tensor(np.array(levels), dtype=fdt, device=y.device)
    inv = (1.0 / no).unsqueeze(-1)
    m = k // 2
    outs = [None] * k
    for d, comp in enumerate((y.real, y.imag)):
        e = -(comp.to(fdt).unsqueeze(-1) - lv).square() * inv
        for j in range(m):
            one = torch.as_tensor(labels[:, j] == 1, device=y.device)
            e1, e0 = e[..., one], e[..., ~one]
            if method == "maxlog":
                llr = e1.amax(-1) - e0.amax(-1)
            else:
                llr = torch.logsumexp(e1, -1) - torch.logsumexp(e0, -1)
            outs[2 * j + d] = llr
    return torch.stack(outs, -1).to(torch.float32)


def _equalize(y, h_hat, err_var, no):
    if _is_torch(y) or _is_torch(h_hat):
        import torch

        y = torch.as_tensor(y)
        h = torch.as_tensor(h_hat, device=y.device).to(y.dtype)
        rdt = torch.float64 if y.dtype == torch.complex128 else torch.float32
        s = torch.as_tensor(no, dtype=rdt, device=y.device) + torch.as_tensor(err_var, dtype=rdt, device=y.device)
        g = h.real.square() + h.imag.square()
        zero = g == 0
        gs = torch.where(zero, torch.ones_like(g), g)
        x_hat = torch.where(zero, torch.zeros_like(y), y * h.conj() / gs)
        no_eff = torch.where(zero, torch.full_like(g, float("inf")), s / gs)
        return x_hat, no_eff
    y = np.asarray(y)
    if not np.iscomplexobj(y):
        y = y.astype(np.complex64)
    cdt = y.dtype
    rdt = np.float64 if cdt == np.complex128 else np.float32
    h = np.asarray(h_hat).astype(cdt, copy=False)
    s = np.asarray(no, dtype=rdt) + np.asarray(err_var, dtype=rdt)
    g = (h.real * h.real + h.imag * h.imag).astype(rdt)
    zero = g == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        x_hat = np.where(zero, cdt.type(0), y * np.conj(h) / np.where(zero, rdt(1), g)).astype(cdt)
        no_eff = np.where(zero, rdt(np.inf), s / np.where(zero, rdt(1), g)).astype(rdt)
    return x_hat, no_eff


def equalize_lmmse(y, h_hat, err_var, no):
    """Per-resource-element LMMSE equalization, one antenna (Sionna ``LMMSEEqualizer``, 1 x 1).

    Args: y complex [...] received; h_hat complex [...] channel estimate; err_var float
    (broadcastable) channel-estimation error variance; no float (broadcastable) noise variance.
    Returns ``(x_hat complex [...], no_eff float [...])`` with ``x_hat = y / h_hat`` and
    ``no_eff = (no + err_var) / |h_hat|^2`` (unbiased LMMSE = ZF for one antenna).
    """
    return _equalize(y, h_hat, err_var, no)


def equalize_zf(y, h_hat, err_var, no):
    """Per-resource-element ZF equalization, one antenna (Sionna ``ZFEqualizer``, 1 x 1).

    Same result as :func:`equalize_lmmse` for a single antenna: ``x_hat = y / h_hat``,
    ``no_eff = (no + err_var) / |h_hat|^2``.
    """
    return _equalize(y, h_hat, err_var, no)
