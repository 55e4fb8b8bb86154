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

from .fastmath import exp32, log32

__all__ = [
    "qam_constellation", "pam_levels", "demap_qam", "equalize_lmmse", "equalize_zf",
    "NO_THRESHOLD", "equalize_demap",
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


# ----------------------------------------------------------------------------- numba kernels
_NUMBA_MAX_BITS = 8  # per-axis PAM of up to 16 levels
#: Symbols per block of the numba kernels (struct-of-arrays scratch; the loops over a block are
#: the innermost ones, so LLVM vectorises them).
BLOCK = 64
#: Exponents are clamped to this (finite) floor so that a group whose terms all overflow to
#: -inf (noise variance near float32 ``tiny``) gives a huge finite LLR instead of NaN.
_E_FLOOR = np.float32(-1e37)


@lru_cache(maxsize=None)
def _label_groups(k: int) -> tuple[np.ndarray, np.ndarray]:
    """(g1, g0) int64 [k/2, L/2]: per-axis PAM levels whose label bit j is 1 / 0."""
    _, labels = pam_levels(k)
    g1 = np.array([np.flatnonzero(labels[:, j] == 1) for j in range(k // 2)], dtype=np.int64)
    g0 = np.array([np.flatnonzero(labels[:, j] == 0) for j in range(k // 2)], dtype=np.int64)
    return g1, g0


def _demap_qam_numba(y, no, k, method):
    """Numba kernel for complex64 numpy inputs; None where it does not apply (complex128 inputs
    go to the float64 numpy path).

    Per symbol, axis and bit j, with e_p = -(x - level_p)^2 / no (float32), the bit's two label
    groups are log-sum-exp'ed with their own maxima (as ``logsumexp`` does, so no group
    underflows):

    * app: llr_j = (M1 - M0) + log(sum_{b_j=1} exp(e_p - M1)) - log(sum_{b_j=0} exp(e_p - M0));
    * maxlog: llr_j = M1 - M0,

    with M1 / M0 the group maxima (for 16-QAM's two-level groups, log(1 + exp(-|u - v|))).
    ``exp`` / ``log`` are the vectorisable float32 versions of :mod:`semlink.phy.fastmath`
    (relative error < 2e-7); symbols are processed in blocks of :data:`BLOCK` with the loops
    over a block innermost (SIMD), blocks are spread over numba's threads.
    """
    y = np.asarray(y)
    if y.dtype != np.complex64:
        return None
    no = np.asarray(no, dtype=np.float32)
    try:
        shape = np.broadcast_shapes(y.shape, no.shape)
    except ValueError:
        return None
    if shape != y.shape:
        return None
    yf = np.ascontiguousarray(y).reshape(-1)
    nof = np.ascontiguousarray(np.broadcast_to(no, y.shape)).reshape(-1) if no.size != 1 else no.reshape(1)
    levels, labels = pam_levels(k)
    out = np.empty((yf.shape[0], k), dtype=np.float32)
    if yf.shape[0]:
        n_chunks = int(min(-(-yf.shape[0] // BLOCK), 16 * numba.get_num_threads()))
        _demap_kernel(yf, nof, levels.astype(np.float32), *_label_groups(k), method == "app",
                      np.float32(NO_THRESHOLD), n_chunks, out)
    return out.reshape(y.shape + (k,))


@numba.njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _llr_block(xr, xi, inv, nb, lv, g1, g0, app, e, llr_t):  # pragma: no cover - compiled
    """LLRs of ``nb`` symbols into ``llr_t`` [k, BLOCK] (bit-major, so every loop over the
    block's symbols is a plain elementwise loop that LLVM vectorises).

    xr, xi: equalized components, inv: 1/no, float32 [BLOCK]; lv: PAM levels [L];
    g1 / g0: int [k/2, L/2] levels whose label bit j is 1 / 0; e: scratch [L, BLOCK].
    """
    n_lv = lv.shape[0]
    m = g1.shape[0]
    gs = g1.shape[1]
    neg_inf = np.float32(-np.inf)
    for d in range(2):
        x = xr if d == 0 else xi
        for p in range(n_lv):
            level = lv[p]
            for b in range(nb):
                t = x[b] - level
                e[p, b] = max(-(t * t) * inv[b], _E_FLOOR)
        for j in range(m):
            c = 2 * j + d
            if gs == 1:  # QPSK: one level per group, app == maxlog
                p1, p0 = g1[j, 0], g0[j, 0]
                for b in range(nb):
                    llr_t[c, b] = e[p1, b] - e[p0, b]
            elif gs == 2:  # 16-QAM
                p1, q1, p0, q0 = g1[j, 0], g1[j, 1], g0[j, 0], g0[j, 1]
                if app:
                    for b in range(nb):
                        u1, v1, u0, v0 = e[p1, b], e[q1, b], e[p0, b], e[q0, b]
                        d1 = u1 - v1
                        d0 = u0 - v0
                        m1 = u1 if d1 > 0 else v1
                        m0 = u0 if d0 > 0 else v0
                        a1 = np.float32(1.0) + exp32(-d1 if d1 > 0 else d1)
                        a0 = np.float32(1.0) + exp32(-d0 if d0 > 0 else d0)
                        llr_t[c, b] = (m1 - m0) + log32(a1 / a0)
                else:
                    for b in range(nb):
                        llr_t[c, b] = max(e[p1, b], e[q1, b]) - max(e[p0, b], e[q0, b])
            elif gs == 4:  # 64-QAM
                a1, b1, c1, d1 = g1[j, 0], g1[j, 1], g1[j, 2], g1[j, 3]
                a0, b0, c0, d0 = g0[j, 0], g0[j, 1], g0[j, 2], g0[j, 3]
                for b in range(nb):
                    u1, v1, w1, z1 = e[a1, b], e[b1, b], e[c1, b], e[d1, b]
                    u0, v0, w0, z0 = e[a0, b], e[b0, b], e[c0, b], e[d0, b]
                    m1 = max(max(u1, v1), max(w1, z1))
                    m0 = max(max(u0, v0), max(w0, z0))
                    r = m1 - m0
                    if app:
                        s1 = exp32(u1 - m1) + exp32(v1 - m1) + exp32(w1 - m1) + exp32(z1 - m1)
                        s0 = exp32(u0 - m0) + exp32(v0 - m0) + exp32(w0 - m0) + exp32(z0 - m0)
                        r += log32(s1) - log32(s0)
                    llr_t[c, b] = r
            else:  # larger constellations: per-symbol loops over the group
                for b in range(nb):
                    m1 = neg_inf
                    m0 = neg_inf
                    for q in range(gs):
                        m1 = max(m1, e[g1[j, q], b])
                        m0 = max(m0, e[g0[j, q], b])
                    r = m1 - m0
                    if app:
                        s1 = np.float32(0.0)
                        s0 = np.float32(0.0)
                        for q in range(gs):
                            s1 += exp32(e[g1[j, q], b] - m1)
                            s0 += exp32(e[g0[j, q], b] - m0)
                        r += log32(s1) - log32(s0)
                    llr_t[c, b] = r


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _demap_kernel(y, no, lv, g1, g0, app, no_min, n_chunks, out):  # pragma: no cover - compiled
    n = y.shape[0]
    k = 2 * g1.shape[0]
    scalar_no = no.shape[0] == 1
    for ch in prange(n_chunks):
        xr = np.empty(BLOCK, np.float32)
        xi = np.empty(BLOCK, np.float32)
        inv = np.empty(BLOCK, np.float32)
        e = np.empty((lv.shape[0], BLOCK), np.float32)
        llr_t = np.empty((k, BLOCK), np.float32)
        i0 = (n * ch) // n_chunks
        i1 = (n * (ch + 1)) // n_chunks
        for b0 in range(i0, i1, BLOCK):
            nb = min(BLOCK, i1 - b0)
            for b in range(nb):
                v = y[b0 + b]
                xr[b] = v.real
                xi[b] = v.imag
                nv = no[0] if scalar_no else no[b0 + b]
                inv[b] = np.float32(1.0) / max(nv, no_min)
            _llr_block(xr, xi, inv, nb, lv, g1, g0, app, e, llr_t)
            for b in range(nb):
                for c in range(k):
                    out[b0 + b, c] = llr_t[c, b]


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _equalize_demap_kernel(y, h, ev, idx, no, lv, g1, g0, app, no_min, perm, out):  # pragma: no cover - compiled
    n_slots = y.shape[0]
    n = idx.shape[0]
    k = 2 * g1.shape[0]
    for s in prange(n_slots):
        xr = np.empty(BLOCK, np.float32)
        xi = np.empty(BLOCK, np.float32)
        inv = np.empty(BLOCK, np.float32)
        e = np.empty((lv.shape[0], BLOCK), np.float32)
        llr_t = np.empty((k, BLOCK), np.float32)
        for b0 in range(0, n, BLOCK):
            nb = min(BLOCK, n - b0)
            for b in range(nb):
                pos = idx[b0 + b]
                hv = h[s, pos]
                g = hv.real * hv.real + hv.imag * hv.imag
                if g > 0:
                    q = y[s, pos] * hv.conjugate()
                    xr[b] = q.real / g
                    xi[b] = q.imag / g
                    inv[b] = np.float32(1.0) / max((no + ev[s, b0 + b]) / g, no_min)
                else:  # no channel: erasure (LLR 0)
                    xr[b] = np.float32(0.0)
                    xi[b] = np.float32(0.0)
                    inv[b] = np.float32(0.0)
            _llr_block(xr, xi, inv, nb, lv, g1, g0, app, e, llr_t)
            for b in range(nb):
                for c in range(k):
                    out[s, perm[(b0 + b) * k + c]] = llr_t[c, b]


def equalize_demap(y, h_hat, err_var, no, num_bits_per_symbol, method: str = "app", perm=None, idx=None) -> np.ndarray:
    """Fused 1x1 equalization + Gray-QAM demapping + de-interleaving (CPU, one pass).

    Same numbers as ``demap_qam(*equalize_lmmse(y[:, idx], h_hat[:, idx], err_var, no), k,
    method)`` (ZF and LMMSE coincide for one antenna), written to bit positions ``perm``.

    Args:
        y, h_hat: complex64 [S, R] received resource elements and channel estimates of S slots.
        err_var: float32, broadcastable to [S, N]: channel-estimation error variance of the
            N data symbols.
        no: noise variance (float, linear).
        idx: int [N] positions of the data symbols in a row of ``y`` (default: all R of them).
        perm: int [N * k] or None: the LLR of transmitted bit j of a slot goes to position
            ``perm[j]`` (the inverse of the transmitter's ``bits[:, perm]`` interleaver).
    Returns:
        float32 [S, N * k] LLRs, ``log P(1)/P(0)``.
    """
    if method not in ("maxlog", "app"):
        raise ValueError(f"method must be 'maxlog' or 'app', got {method!r}")
    k = _num_bits(num_bits_per_symbol)
    y = np.asarray(y, dtype=np.complex64)
    h = np.asarray(h_hat, dtype=np.complex64)
    if y.ndim != 2 or h.shape != y.shape:
        raise ValueError(f"y and h_hat must both be [S, R], got {y.shape} and {h.shape}")
    idx = np.arange(y.shape[1], dtype=np.int64) if idx is None else np.asarray(idx, dtype=np.int64)
    if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= y.shape[1])):
        raise ValueError(f"idx must be a 1-D array of positions in [0, {y.shape[1]})")
    ev = np.broadcast_to(np.asarray(err_var, dtype=np.float32), (y.shape[0], idx.size))
    n_bits = idx.size * k
    perm = np.arange(n_bits, dtype=np.int64) if perm is None else np.asarray(perm, dtype=np.int64)
    if perm.shape != (n_bits,):
        raise ValueError(f"perm must have N * k = {n_bits} entries, got {perm.shape}")
    out = np.empty((y.shape[0], n_bits), dtype=np.float32)
    levels, _ = pam_levels(k)
    _equalize_demap_kernel(y, h, ev, idx, np.float32(no), levels.astype(np.float32), *_label_groups(k),
                           method == "app", np.float32(NO_THRESHOLD), perm, out)
    return out


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
