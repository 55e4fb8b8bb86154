"""Fast belief-propagation decoder for quasi-cyclic LDPC codes (802.11n), Numba on CPU.

The decoder works directly on the base matrix: every non-zero block is a Z x Z circulant,
so the Z check nodes of one block row are processed together as one short vector (Z lanes,
padded to a multiple of 8 so that the loops map onto AVX2 registers), and the cyclic shift
becomes a contiguous slice of a periodically extended array. Codewords are independent:
``prange`` runs blocks of codewords on the available cores, and each codeword stops as soon
as its hard decision satisfies all parity checks (early termination).

LLR convention on input: ``llr = log P(1)/P(0)`` (Sionna's logits); the output is hard
codeword bits, ``bit = 1`` where the a-posteriori LLR is ``>= 0`` (Sionna's tie rule).

Check-node rules (``cn=``):

* ``"spa"`` (default): sum-product (exact boxplus) in the tanh domain,
  ``y = 2 atanh(prod_{i' != i} tanh(x_i' / 2))``, with the same saturation as Sionna's
  ``"boxplus-phi"`` rule (messages +/- 20, phi argument clipped to [8.5e-8, 16.635532]);
* ``"phi"``: sum-product in the phi domain, ``phi(x) = -log(tanh(x/2))``: the very same
  formula and clipping as Sionna's ``cn_update_phi`` (about 2x slower than ``"spa"``);
* ``"minsum"``, ``"nms"`` (normalized min-sum, ``alpha``), ``"oms"`` (offset min-sum, ``beta``).

Schedules (``schedule=``): ``"flooding"`` (default; same message schedule as Sionna's
``LDPCBPDecoder``, so with ``cn="spa"`` or ``"phi"`` it gives the same decisions up to float
rounding, plus early termination) and ``"layered"`` (row-layered: each block row updates the
a-posteriori LLRs immediately; converges in about half the iterations).

Exp and log are evaluated with Cephes-style polynomials (relative error ~1e-7) built from
bit-level intrinsics, so that they can be vectorised without an SVML library. NOTE (known
limitation, see the report / TODO): LLVM currently vectorises only the loops that do not
read-modify-write a second array; the row-accumulator loops run scalar, so the kernel is
about 5-10x short of what AVX2 allows.

A vectorised torch implementation (:func:`decode_torch`) runs on any torch device (CUDA when
available); it uses the expanded edge list with gather/scatter and the same rules.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

__all__ = ["decode", "decode_torch", "CN_RULES", "SCHEDULES", "warmup"]

CN_RULES = {"spa": 0, "phi": 1, "minsum": 2, "nms": 3, "oms": 4}
SCHEDULES = {"flooding": 0, "layered": 1}

_W = 32  # lanes per circulant (Z padded up to a multiple of 8); lanes >= Z repeat lanes - Z
_W2 = 64  # periodic extension of the a-posteriori LLR per block column (>= Z - 1 + _W)

_F = np.float32
_LLR_MAX = _F(20.0)
_PHI_LO = _F(8.5e-8)
_PHI_HI = _F(16.635532)
_ONE = _F(1.0)
_ZERO = _F(0.0)
_HALF = _F(0.5)
_MONE = _F(-1.0)
# tanh-domain limits equivalent to Sionna's phi clipping:
#   |x| >= 16.635532  ->  t <= exp(-phi(16.635532)) = 1 - 1.19e-7 (largest float32 below 1 - 1e-7)
#   |x| <= 8.5e-8     ->  t >= exp(-phi(8.5e-8))  = 4.25e-8
_T_HI = _F(0.99999988)
_T_LO = _F(4.25e-8)
_P_HI = _F(0.99999994)  # largest float32 below 1
_P_LO = _F(5.9604645e-8)  # exp(-16.635532): Sionna's smallest c2v magnitude is phi of this
_P_FLOOR = _F(1e-30)  # keeps running products normal (no denormal slow path)
_OUT_HI = _F(16.9709)  # phi(8.5e-8): Sionna's largest c2v magnitude

# Cephes expf / logf constants
_LOG2E = _F(1.44269504088896341)
_EXP_C1 = _F(0.693359375)
_EXP_C2 = _F(-2.12194440e-4)
_EP0 = _F(1.9875691500e-4)
_EP1 = _F(1.3981999507e-3)
_EP2 = _F(8.3334519073e-3)
_EP3 = _F(4.1665795894e-2)
_EP4 = _F(1.6666665459e-1)
_EP5 = _F(5.0000001201e-1)
_SQRTHF = _F(0.707106781186547524)
_LP = tuple(
    _F(v)
    for v in (
        7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
        -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
    )
)
_LP0, _LP1, _LP2, _LP3, _LP4, _LP5, _LP6, _LP7, _LP8 = _LP
_LQ1 = _F(-2.12194440e-4)
_LQ2 = _F(0.693359375)

_JIT = dict(cache=True, fastmath=True, nogil=True, error_model="numpy")


# ----------------------------------------------------------------------------- bit tricks
@intrinsic
def _pow2i(typingctx, n):
    """float32 2**n for an integral float32 n in [-126, 127] (exponent-field construction)."""
    if n != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        k = builder.fptosi(args[0], i32)
        k = builder.add(k, ir.Constant(i32, 127))
        k = builder.shl(k, ir.Constant(i32, 23))
        return builder.bitcast(k, ir.FloatType())

    return types.float32(types.float32), codegen


@intrinsic
def _exponent(typingctx, x):
    """float32 e such that x = m * 2**e with m in [0.5, 1) (x > 0, normal)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        b = builder.bitcast(args[0], i32)
        e = builder.lshr(b, ir.Constant(i32, 23))
        e = builder.sub(e, ir.Constant(i32, 126))
        return builder.sitofp(e, ir.FloatType())

    return types.float32(types.float32), codegen


@intrinsic
def _mantissa(typingctx, x):
    """float32 m in [0.5, 1) such that x = m * 2**e (x > 0, normal)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        b = builder.bitcast(args[0], i32)
        b = builder.and_(b, ir.Constant(i32, 0x807FFFFF))
        b = builder.or_(b, ir.Constant(i32, 0x3F000000))
        return builder.bitcast(b, ir.FloatType())

    return types.float32(types.float32), codegen


@njit(inline="always", **_JIT)
def _fexp(x):
    """exp(x) for float32 x in [-80, 80] (Cephes expf, ~1 ulp)."""
    fx = np.floor(x * _LOG2E + _HALF)
    r = x - fx * _EXP_C1 - fx * _EXP_C2
    z = r * r
    y = ((((_EP0 * r + _EP1) * r + _EP2) * r + _EP3) * r + _EP4) * r + _EP5
    y = y * z + r + _ONE
    return y * _pow2i(fx)


@njit(inline="always", **_JIT)
def _flog(x):
    """log(x) for normal float32 x > 0 (Cephes logf, ~1 ulp)."""
    e = _exponent(x)
    m = _mantissa(x)
    small = m < _SQRTHF
    e = e - _ONE if small else e
    m = (m + m - _ONE) if small else (m - _ONE)
    z = m * m
    y = ((((((((_LP0 * m + _LP1) * m + _LP2) * m + _LP3) * m + _LP4) * m + _LP5) * m + _LP6) * m + _LP7) * m + _LP8)
    y = y * m * z
    y = y + e * _LQ1 - _HALF * z
    return m + y + e * _LQ2


@njit(inline="always", **_JIT)
def _phi(x):
    """Sionna's phi(x) = -log(tanh(x/2)) on |x| clipped to [8.5e-8, 16.635532]."""
    x = min(max(x, _PHI_LO), _PHI_HI)
    e = _fexp(-x)
    return _flog((_ONE + e) / (_ONE - e))


# ----------------------------------------------------------------------------- kernels
# The lane count ``nl`` (= _W) is passed at run time on purpose: with a compile-time trip count
# LLVM fully unrolls the 32-lane loops before the loop vectoriser runs.
# All kernels index flat 1-D float32 arrays with uint64 indices: numba then emits no
# negative-index wraparound and no array views (whose reference counting is not free), so
# LLVM sees plain strided loops over _W lanes and vectorises them.
_U = np.uint64
_WU = _U(_W)
_W2U = _U(_W2)
_ZU = _U(27)
_U0 = _U(0)
_U1 = _U(1)


@njit(inline="always", **_JIT)
def _cn_row(T, C, W, nl, row, row_ptr, e_col, e_shift, cn_mode, alpha, beta, layered):
    """Update the c2v messages of all edges (circulants) of block row ``row``.

    Reads v2c = clip(T[col, s + i] - C[e, i]) (check order), writes C[e, :] in place. For the
    layered schedule, also writes the refreshed a-posteriori LLRs T = v2c + c2v back to T (VN
    order), with the *unclipped* v2c: this keeps T = L + sum(c2v) exact (clipping it there
    makes layered decoding lose the other rows' information and fail badly).

    Scratch ``W`` (one array, so that LLVM needs few runtime alias checks and vectorises the
    lane loops): lanes [0, 128) hold the row accumulators (product or sum or min1, min2, sign
    product, unscaled min1); edge k uses [128 + 128 k, 256 + 128 k): v2c, transformed
    magnitude, sign.
    """
    e0 = row_ptr[row]
    d = row_ptr[row + _U1] - e0
    for i in range(nl):
        W[_U(64) + i] = _ONE
    if cn_mode == 0:  # tanh-domain sum-product
        for i in range(nl):
            W[i] = _ONE
        for k in range(d):
            e = e0 + k
            tb = e_col[e] * _W2U + e_shift[e]
            cb = e * _WU
            kb = _U(128) + k * _U(128)
            for i in range(nl):
                v = T[tb + i] - C[cb + i]
                W[kb + i] = v
                a = min(abs(v), _LLR_MAX)
                ex = _fexp(-a)
                t = (_ONE - ex) / (_ONE + ex)
                t = min(max(t, _T_LO), _T_HI)
                sg = _MONE if v < _ZERO else _ONE
                W[kb + _U(32) + i] = t
                W[kb + _U(64) + i] = sg
                W[_U(64) + i] *= sg
                W[i] = max(W[i] * t, _P_FLOOR)
        for k in range(d):
            cb = (e0 + k) * _WU
            kb = _U(128) + k * _U(128)
            for i in range(nl):
                p = W[i] / W[kb + _U(32) + i]
                p = min(max(p, _P_LO), _P_HI)
                y = _flog((_ONE + p) / (_ONE - p))
                y = min(y, _OUT_HI)
                C[cb + i] = y * (W[_U(64) + i] * W[kb + _U(64) + i])
    elif cn_mode == 1:  # phi-domain sum-product (Sionna's formula)
        for i in range(nl):
            W[i] = _ZERO
        for k in range(d):
            e = e0 + k
            tb = e_col[e] * _W2U + e_shift[e]
            cb = e * _WU
            kb = _U(128) + k * _U(128)
            for i in range(nl):
                v = T[tb + i] - C[cb + i]
                W[kb + i] = v
                ph = _phi(min(abs(v), _LLR_MAX))
                sg = _MONE if v < _ZERO else _ONE
                W[kb + _U(32) + i] = ph
                W[kb + _U(64) + i] = sg
                W[_U(64) + i] *= sg
                W[i] += ph
        for k in range(d):
            cb = (e0 + k) * _WU
            kb = _U(128) + k * _U(128)
            for i in range(nl):
                y = _phi(W[i] - W[kb + _U(32) + i])
                y = min(y, _LLR_MAX)
                C[cb + i] = y * (W[_U(64) + i] * W[kb + _U(64) + i])
    else:  # min-sum family
        big = _F(3.0e38)
        for i in range(nl):
            W[i] = big
            W[_U(32) + i] = big
        for k in range(d):
            e = e0 + k
            tb = e_col[e] * _W2U + e_shift[e]
            cb = e * _WU
            kb = _U(128) + k * _U(128)
            for i in range(nl):
                v = T[tb + i] - C[cb + i]
                W[kb + i] = v
                a = min(abs(v), _LLR_MAX)
                sg = _MONE if v < _ZERO else _ONE
                W[kb + _U(32) + i] = a
                W[kb + _U(64) + i] = sg
                W[_U(64) + i] *= sg
                m1 = W[i]
                W[_U(32) + i] = min(W[_U(32) + i], max(m1, a))
                W[i] = min(m1, a)
        for i in range(nl):
            W[_U(96) + i] = W[i]  # unscaled minimum, to find the edge that holds it
        if cn_mode == 3:  # normalized: scale the two minima once
            for i in range(nl):
                W[i] *= alpha
                W[_U(32) + i] *= alpha
        elif cn_mode == 4:  # offset
            for i in range(nl):
                W[i] = max(W[i] - beta, _ZERO)
                W[_U(32) + i] = max(W[_U(32) + i] - beta, _ZERO)
        for k in range(d):
            cb = (e0 + k) * _WU
            kb = _U(128) + k * _U(128)
            for i in range(nl):
                # the minimum's own edge gets the second minimum
                y = W[_U(32) + i] if W[kb + _U(32) + i] == W[_U(96) + i] else W[i]
                C[cb + i] = y * (W[_U(64) + i] * W[kb + _U(64) + i])
    if layered:
        # a-posteriori update T = v2c + new c2v, scattered back to VN order
        for k in range(d):
            e = e0 + k
            cb = e * _WU
            kb = _U(128) + k * _U(128)
            for i in range(nl):
                W[kb + i] = W[kb + i] + C[cb + i]
            _scatter_add(T, e_col[e] * _W2U, e_shift[e], W, kb, False, nl)


@njit(inline="always", **_JIT)
def _scatter_add(T, tb, s, src, sb, add, nl):
    """T[tb + j] (+)= src[sb + (j - s) mod Z] for j < _W (circulant to VN order)."""
    o = sb + _ZU - s
    if add:
        for j in range(s):
            T[tb + j] += src[o + j]
        o2 = tb + s
        for j in range(nl - s):
            T[o2 + j] += src[sb + j]
    else:
        for j in range(s):
            T[tb + j] = src[o + j]
        o2 = tb + s
        for j in range(nl - s):
            T[o2 + j] = src[sb + j]
    if not add:
        _extend(T, tb)


@njit(inline="always", **_JIT)
def _extend(T, tb):
    # T[tb + j] = T[tb + j - 27] for j in [32, 64): copy [5, 27) -> [32, 54), [0, 10) -> [54, 64)
    for j in range(_U(22)):
        T[tb + _U(32) + j] = T[tb + _U(5) + j]
    for j in range(_U(10)):
        T[tb + _U(54) + j] = T[tb + j]


@njit(inline="always", **_JIT)
def _syndrome_ok(T, par, nl, row_ptr, e_col, e_shift, mb):
    """True if the hard decision (bit = T <= 0 in the internal P0/P1 domain) satisfies H c = 0."""
    for r in range(mb):
        for i in range(nl):
            par[i] = _ONE
        for e in range(row_ptr[r], row_ptr[r + _U1]):
            tb = e_col[e] * _W2U + e_shift[e]
            for i in range(nl):
                par[i] *= _MONE if T[tb + i] <= _ZERO else _ONE
        bad = _ZERO
        for i in range(nl):
            bad = min(bad, par[i])
        if bad < _ZERO:
            return False
    return True


@njit(**_JIT)
def _decode_one(llr, w, out, L, T, C, W, row_ptr, e_col, e_shift, col_ptr,
                col_edge, nb, mb, num_iter, layered, cn_mode, alpha, beta, early, nl):
    z = _ZU
    # channel LLRs, internal domain log P0/P1 (= -logit), clipped like Sionna, periodic layout
    for c in range(nb):
        lb = c * _W2U
        for j in range(z):
            v = -llr[w, c * z + j]
            v = min(max(v, -_LLR_MAX), _LLR_MAX)
            L[lb + j] = v
            L[lb + z + j] = v
        for j in range(_W2U - z - z):
            L[lb + z + z + j] = L[lb + j]
    for j in range(L.shape[0]):
        T[j] = L[j]
    for j in range(C.shape[0]):
        C[j] = _ZERO
    acc = W  # lanes [0, 32) double as the syndrome / VN accumulator
    it = 0
    ok = False
    while True:
        if early:
            ok = _syndrome_ok(T, acc, nl, row_ptr, e_col, e_shift, mb)
            if ok:
                break
        if it >= num_iter:
            break
        for r in range(mb):
            _cn_row(T, C, W, nl, r, row_ptr, e_col, e_shift, cn_mode, alpha, beta, layered)
        if not layered:
            # flooding: a-posteriori LLR T = L + sum of c2v, per block column in VN order
            for c in range(nb):
                tb = c * _W2U
                for j in range(nl):
                    T[tb + j] = L[tb + j]
                for q in range(col_ptr[c], col_ptr[c + _U1]):
                    e = col_edge[q]
                    _scatter_add(T, tb, e_shift[e], C, e * _WU, True, nl)
                _extend(T, tb)
        it += 1
    if not early:
        ok = _syndrome_ok(T, acc, nl, row_ptr, e_col, e_shift, mb)
    for c in range(nb):
        tb = c * _W2U
        for j in range(z):
            out[w, c * z + j] = 1 if T[tb + j] <= _ZERO else 0
    return it, ok


@njit(parallel=True, **_JIT)
def _decode_batch(llr, out, iters, oks, row_ptr, e_col, e_shift, col_ptr, col_edge, nb, mb,
                  num_iter, layered, cn_mode, alpha, beta, early, chunk, dmax, nl):
    b = llr.shape[0]
    n_e = e_col.shape[0]
    n_chunks = (b + chunk - 1) // chunk
    for ch in prange(n_chunks):
        L = np.empty(nb * _W2, dtype=np.float32)
        T = np.empty(nb * _W2, dtype=np.float32)
        C = np.empty(n_e * _W, dtype=np.float32)
        W = np.empty((dmax + 1) * 4 * _W, dtype=np.float32)
        w1 = min(b, (ch + 1) * chunk)
        for w in range(ch * chunk, w1):
            it, ok = _decode_one(llr, _U(w), out, L, T, C, W, row_ptr, e_col, e_shift,
                                 col_ptr, col_edge, _U(nb), _U(mb), num_iter, layered, cn_mode,
                                 alpha, beta, early, _U(nl))
            iters[w] = it
            oks[w] = ok


# ----------------------------------------------------------------------------- tables
@lru_cache(maxsize=16)
def _tables(base_bytes: bytes, shape: tuple[int, int], z: int):
    base = np.frombuffer(base_bytes, dtype=np.int16).reshape(shape)
    mb, nb = shape
    rows, cols, shifts = np.nonzero(base >= 0)[0], np.nonzero(base >= 0)[1], None
    shifts = base[rows, cols].astype(np.int64)
    row_ptr = np.zeros(mb + 1, dtype=np.int64)
    np.add.at(row_ptr, rows + 1, 1)
    row_ptr = np.cumsum(row_ptr)
    order = np.lexsort((rows, cols))  # edges grouped by column
    col_ptr = np.zeros(nb + 1, dtype=np.int64)
    np.add.at(col_ptr, cols + 1, 1)
    col_ptr = np.cumsum(col_ptr)
    u = np.uint64
    return (row_ptr.astype(u), cols.astype(u), shifts.astype(u), col_ptr.astype(u), order.astype(u))


def _check_base(base: np.ndarray, z: int) -> np.ndarray:
    base = np.ascontiguousarray(base, dtype=np.int16)
    if base.ndim != 2:
        raise ValueError("base must be a 2-D base matrix")
    if z != 27:
        # the lane layout (Z padded to 32, periodic tails of 64) is specialised to Z = 27
        raise ValueError(f"the numba decoder is specialised to Z = 27 (802.11n n = 648), got z={z}")
    if base.max() >= z or base.min() < -1:
        raise ValueError("base matrix entries must be -1 or shifts in [0, Z)")
    return base


_N_THREADS_DEFAULT = None


def decode(
    base: np.ndarray,
    z: int,
    llr: np.ndarray,
    num_iter: int = 20,
    schedule: str = "flooding",
    cn: str = "spa",
    alpha: float = 0.75,
    beta: float = 0.5,
    early_stop: bool = True,
    return_info: bool = False,
    device: str | None = None,
):
    """Belief-propagation decoding of a quasi-cyclic LDPC code.

    Args:
        base: int16 base matrix [mb, nb]; ``-1`` = zero block, ``s >= 0`` = identity shifted
            right by ``s`` (``H[r, (r + s) % Z] = 1``).
        z: lifting size (27 for the numba path).
        llr: float32 [b, n] channel LLRs, ``log P(1)/P(0)``.
        num_iter: maximum number of iterations (a full pass over all check nodes).
        schedule: ``"flooding"`` (Sionna's schedule) or ``"layered"``.
        cn: check-node rule, one of :data:`CN_RULES` (``"spa"`` default).
        alpha, beta: normalization / offset of ``"nms"`` / ``"oms"``.
        early_stop: stop each codeword as soon as its hard decision has zero syndrome
            (checked before every iteration, including on the channel decisions).
        return_info: also return ``(iterations int32 [b], syndrome_ok bool [b])``.
        device: ``None``/``"cpu"`` -> numba; any other torch device -> :func:`decode_torch`.

    Returns:
        uint8 hard codeword bits [b, n] (and the info arrays when ``return_info``).
    """
    if device is not None and str(device) != "cpu":
        return decode_torch(base, z, llr, num_iter=num_iter, schedule=schedule, cn=cn, alpha=alpha,
                            beta=beta, early_stop=early_stop, return_info=return_info, device=device)
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r}; choose one of {sorted(SCHEDULES)}")
    if cn not in CN_RULES:
        raise ValueError(f"cn={cn!r}; choose one of {sorted(CN_RULES)}")
    if not isinstance(num_iter, (int, np.integer)) or num_iter < 0:
        raise ValueError(f"num_iter must be a non-negative int, got {num_iter!r}")
    base = _check_base(base, z)
    mb, nb = base.shape
    n = nb * z
    llr = np.asarray(llr, dtype=np.float32)
    if llr.ndim != 2 or llr.shape[1] != n:
        raise ValueError(f"llr must have shape [b, {n}], got {llr.shape}")
    llr = np.ascontiguousarray(llr)
    b = llr.shape[0]
    row_ptr, e_col, e_shift, col_ptr, col_edge = _tables(base.tobytes(), base.shape, z)
    out = np.empty((b, n), dtype=np.uint8)
    iters = np.zeros(b, dtype=np.int32)
    oks = np.zeros(b, dtype=np.bool_)
    if b:
        chunk = max(1, min(64, b // 16))
        _decode_batch(llr, out, iters, oks, row_ptr, e_col, e_shift, col_ptr, col_edge, nb, mb,
                      int(num_iter), SCHEDULES[schedule] == 1,
                      CN_RULES[cn], np.float32(alpha), np.float32(beta), bool(early_stop), chunk,
                      int(np.diff(row_ptr.astype(np.int64)).max()), _W)
    if return_info:
        return out, iters, oks
    return out


def warmup() -> None:
    """Compile (or load from the cache) the numba kernels."""
    from semlink.phy.ldpc import ieee80211n_base_matrix

    base = ieee80211n_base_matrix(648, "3/4")
    decode(base, 27, np.zeros((1, 648), np.float32), num_iter=1)


# ----------------------------------------------------------------------------- torch path
@lru_cache(maxsize=16)
def _torch_layers(base_bytes: bytes, shape: tuple[int, int], z: int):
    """Per block row: variable-node indices [Z, d_r] of the expanded checks (numpy int64)."""
    base = np.frombuffer(base_bytes, dtype=np.int16).reshape(shape)
    mb, nb = shape
    r = np.arange(z)
    layers = []
    for i in range(mb):
        cols = [j * z + (r + int(base[i, j])) % z for j in range(nb) if base[i, j] >= 0]
        layers.append(np.stack(cols, axis=1).astype(np.int64))
    return layers


def _torch_cn(x, cn_mode, alpha, beta):
    """Extrinsic check-node update on x [b, R, d] (internal P0/P1 domain), Sionna's clipping."""
    import torch

    x = x.clamp(-float(_LLR_MAX), float(_LLR_MAX))
    sg = torch.where(x < 0, -1.0, 1.0).to(x.dtype)
    sg_out = sg * sg.prod(dim=-1, keepdim=True)
    a = x.abs()
    if cn_mode in (0, 1):
        def phi(v):
            v = v.clamp(float(_PHI_LO), float(_PHI_HI))
            return torch.log(torch.exp(v) + 1) - torch.log(torch.exp(v) - 1)

        p = phi(a)
        y = phi(p.sum(dim=-1, keepdim=True) - p).clamp(max=float(_LLR_MAX))
    else:
        two = torch.topk(a, 2, dim=-1, largest=False).values
        m1, m2 = two[..., :1], two[..., 1:2]
        y = torch.where(a == m1, m2, m1)
        if cn_mode == 3:
            y = y * alpha
        elif cn_mode == 4:
            y = (y - beta).clamp(min=0.0)
    return sg_out * y


def decode_torch(
    base: np.ndarray,
    z: int,
    llr,
    num_iter: int = 20,
    schedule: str = "flooding",
    cn: str = "spa",
    alpha: float = 0.75,
    beta: float = 0.5,
    early_stop: bool = True,
    return_info: bool = False,
    device=None,
):
    """Same decoder as :func:`decode`, vectorised over codewords with torch (any device).

    Expanded-edge implementation: per block row, the Z x d_r variable indices are gathered
    from the a-posteriori LLRs. ``"spa"`` and ``"phi"`` both use Sionna's phi formula here.
    Codewords whose syndrome is zero are dropped from the active set (early termination).
    Accepts numpy arrays or torch tensors; returns the same kind (uint8 bits [b, n]).
    """
    import torch

    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r}; choose one of {sorted(SCHEDULES)}")
    if cn not in CN_RULES:
        raise ValueError(f"cn={cn!r}; choose one of {sorted(CN_RULES)}")
    base = np.ascontiguousarray(base, dtype=np.int16)
    mb, nb = base.shape
    n = nb * z
    as_numpy = not isinstance(llr, torch.Tensor)
    x = torch.as_tensor(np.asarray(llr, dtype=np.float32) if as_numpy else llr)
    dev = torch.device(device) if device is not None else x.device
    x = x.to(device=dev, dtype=torch.float32)
    if x.ndim != 2 or x.shape[1] != n:
        raise ValueError(f"llr must have shape [b, {n}], got {tuple(x.shape)}")
    b = x.shape[0]
    layers = [torch.as_tensor(v, device=dev) for v in _torch_layers(base.tobytes(), base.shape, z)]
    mode = CN_RULES[cn]
    layered = SCHEDULES[schedule] == 1
    lch = -x.clamp(-float(_LLR_MAX), float(_LLR_MAX))  # internal domain log P0/P1
    t_all = lch.clone()
    c_msgs = [torch.zeros(b, z, v.shape[1], device=dev) for v in layers]
    iters = torch.zeros(b, dtype=torch.int32, device=dev)
    active = torch.arange(b, device=dev)

    def syndrome_ok(t):
        hard = (t <= 0).to(torch.int32)
        ok = torch.ones(t.shape[0], dtype=torch.bool, device=dev)
        for idx in layers:
            ok &= (hard[:, idx].sum(-1) % 2 == 0).all(-1)
        return ok

    with torch.no_grad():
        for it in range(num_iter + 1):
            if early_stop and active.numel():
                ok = syndrome_ok(t_all[active])
                active = active[~ok]
            if it == num_iter or active.numel() == 0:
                break
            t = t_all[active]
            cs = [cm[active] for cm in c_msgs]
            if layered:
                for r, idx in enumerate(layers):
                    v = t[:, idx] - cs[r]
                    cs[r] = _torch_cn(v, mode, alpha, beta)
                    t[:, idx] = v + cs[r]
            else:
                new_t = lch[active].clone()
                for r, idx in enumerate(layers):
                    v = t[:, idx] - cs[r]
                    cs[r] = _torch_cn(v, mode, alpha, beta)
                    new_t.index_add_(1, idx.reshape(-1), cs[r].reshape(t.shape[0], -1))
                t = new_t
            t_all[active] = t
            for r in range(mb):
                c_msgs[r][active] = cs[r]
            iters[active] += 1
    out = (t_all <= 0).to(torch.uint8)
    oks = syndrome_ok(t_all)
    if as_numpy:
        out, iters, oks = out.cpu().numpy(), iters.cpu().numpy(), oks.cpu().numpy()
    if return_info:
        return out, iters, oks
    return out
