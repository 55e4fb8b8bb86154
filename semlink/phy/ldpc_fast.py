"""Fast belief-propagation decoder for quasi-cyclic LDPC codes (802.11n), Numba on CPU.

The decoder works directly on the base matrix: every non-zero block is a Z x Z circulant.
Codewords are interleaved: 8 codewords ("lanes") are decoded side by side, every array is stored
as [..., Z, 8], so that the Z checks of a circulant times the 8 lanes are one contiguous run of
216 floats and the cyclic shift of a circulant is two contiguous pieces of the a-posteriori
LLRs; all loops are plain elementwise loops over such runs, which LLVM vectorises (AVX2).
Each codeword stops as soon as its hard decision satisfies all parity checks (early
termination, per codeword: a lane whose codeword is done outputs it and is refilled at once
with the next codeword). ``prange`` runs blocks of codewords on the available cores.

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

The kernels use strict IEEE float32 arithmetic (no ``fastmath``: no FMA contraction, no
reassociation), so that decisions are bit-identical on every x86-64 CPU whatever its SIMD width
(``tests/test_ldpc_fast.py`` decodes in a subprocess compiled for another CPU target).

Exp and log are :mod:`semlink.phy.fastmath`'s Cephes-style polynomials (relative error ~1e-7,
Estrin's scheme) built from bit-level intrinsics, so that they vectorise without an SVML
library. Message signs are handled with sign-bit xor (no selects: LLVM turns those into masked
stores, slow on AMD).

A vectorised torch implementation (:func:`decode_torch`) runs on any torch device (CUDA when
available); it uses the expanded edge list with gather/scatter and the same rules.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numba
from llvmlite import ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic
from numba.np.unsafe.ndarray import to_fixed_tuple

from semlink.phy import fastmath
from semlink.phy.fastmath import exp32_kc, log32_kc
from semlink.phy.ldpc_tables import ieee80211n_base_matrix

__all__ = ["decode", "decode_torch", "CN_RULES", "SCHEDULES", "warmup"]

CN_RULES = {"spa": 0, "phi": 1, "minsum": 2, "nms": 3, "oms": 4}
SCHEDULES = {"flooding": 0, "layered": 1}


_F = np.float32
_LLR_MAX = _F(20.0)
_PHI_LO = _F(8.5e-8)
_PHI_HI = _F(16.635532)
_ONE = _F(1.0)
_ZERO = _F(0.0)
# tanh-domain limits equivalent to Sionna's phi clipping:
#   |x| >= 16.635532  ->  t <= exp(-phi(16.635532)) = 1 - 1.19e-7 (largest float32 below 1 - 1e-7)
#   |x| <= 8.5e-8     ->  t >= exp(-phi(8.5e-8))  = 4.25e-8
_T_HI = _F(0.99999988)
_T_LO = _F(4.25e-8)
_P_HI = _F(0.99999994)  # largest float32 below 1
_P_LO = _F(5.9604645e-8)  # exp(-16.635532): Sionna's smallest c2v magnitude is phi of this
_P_FLOOR = _F(1e-30)  # keeps running products normal (no denormal slow path)
_OUT_HI = _F(16.9709)  # phi(8.5e-8): Sionna's largest c2v magnitude
_TINY = _F(1e-37)  # keeps a zero magnitude signed in the sign-carrying message slot

# Float constants of the kernels, in the order of _KC_NAMES: those of fastmath's exp/log
# (fastmath.KC, first, as exp32_kc / log32_kc read them) and then the decoder's own. The kernels
# get them as a run-time tuple (from an array argument) rather than as literals: numba's JIT
# uses LLVM's large code model, in which every literal vector constant is re-materialised inside
# the loops (movabs + broadcast, ~40 % of the instructions of the SPA loops); run-time values are
# broadcast once and kept in registers or folded as stack operands.
_OWN_KC_NAMES = ('_LLR_MAX', '_T_LO', '_T_HI', '_P_LO', '_P_HI', '_P_FLOOR', '_OUT_HI', '_TINY', '_PHI_LO',
                 '_PHI_HI')
_KC_NAMES = tuple("_" + n for n in fastmath.KC_NAMES) + _OWN_KC_NAMES
_KC = np.array(fastmath.KC + tuple(globals()[n] for n in _OWN_KC_NAMES), dtype=np.float32)
_NKC = len(_KC_NAMES)
# the kernels' kc[...] indices below rely on this layout
assert _KC_NAMES[:2] == ("_ONE", "_HALF") and _KC_NAMES[23:] == _OWN_KC_NAMES

# No fastmath: with it, LLVM contracts a*b+c into FMAs and reassociates where its cost model for
# the host CPU says so, and a marginal codeword decoded differently on an AVX-512 Intel CPU than on
# an AMD one (a PSNR of 23.92 vs 24.02 dB in the main job). Strict IEEE float32 arithmetic (and
# fastmath's exp/log, which are bit-level polynomials) gives the same bits on every x86-64 CPU,
# vectorised or not, at a measured cost in decoder time (benchmarks/ldpc_determinism.py).
_JIT = dict(cache=True, fastmath=False, nogil=True, error_model="numpy")


# ----------------------------------------------------------------------------- bit tricks
@intrinsic
def _xorsign(typingctx, x, y):
    """float32 x with its sign bit flipped where y's sign bit is set (no select, no branch:
    keeps LLVM from turning sign updates into masked stores, which are slow on AMD)."""
    if x != types.float32 or y != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        a = builder.bitcast(args[0], i32)
        b = builder.and_(builder.bitcast(args[1], i32), ir.Constant(i32, 0x80000000))
        return builder.bitcast(builder.xor(a, b), ir.FloatType())

    return types.float32(types.float32, types.float32), codegen


@njit(inline="always", **_JIT)
def _phi(x, kc):
    """Sionna's phi(x) = -log(tanh(x/2)) on |x| clipped to [8.5e-8, 16.635532]."""
    _ONE = kc[0]
    _PHI_LO = kc[31]
    _PHI_HI = kc[32]
    x = min(max(x, _PHI_LO), _PHI_HI)
    e = exp32_kc(-x, kc)
    return log32_kc((_ONE + e) / (_ONE - e), kc)


# ----------------------------------------------------------------------------- kernels
# Codeword-interleaved layout: _G = 8 codewords ("lanes") are decoded side by side and every
# array is stored as [..., Z, _G] (lane innermost). The Z checks of one circulant times the _G
# lanes are then one contiguous run of Z * _G = 216 floats, and the cyclic shift of a circulant
# splits the matching run of a-posteriori LLRs into two contiguous pieces. Every kernel loop is
# a plain elementwise loop over such a run (no loop-carried accumulator across the loop
# iterations: the running product / sum / minima / sign of each check live in per-check-lane
# accumulator arrays), which LLVM's loop vectoriser turns into AVX2 code (8 float32 per op).
#
# The _G lanes are a pool: a lane whose codeword has finished (zero syndrome, or num_iter
# iterations) writes its hard decisions, its iteration count and syndrome flag, and is
# immediately refilled with the next codeword of the thread's chunk, so that per-codeword early
# termination is kept exactly (each codeword runs its own iteration count, its output is the
# hard decision at the iteration where its syndrome became zero) and no lane idles while
# codewords remain.
#
# All index arithmetic is uint64 (numba then emits no negative-index wraparound code).
_G = 8
_U = np.uint64
_GU = _U(_G)
_ZU = _U(27)
_ZG = _U(27 * _G)
_U1 = _U(1)


@njit(inline="always", **_JIT)
def _gather(T, C, V, tb, s, cb, vb):
    """V[vb + i G + g] = T[tb + ((i + s) mod Z) G + g] - C[cb + i G + g]  (v2c, check order)."""
    m = (_ZU - s) * _GU
    o = tb + s * _GU
    for j in range(m):
        V[vb + j] = T[o + j] - C[cb + j]
    vb2 = vb + m
    cb2 = cb + m
    for j in range(s * _GU):
        V[vb2 + j] = T[tb + j] - C[cb2 + j]


@njit(inline="always", **_JIT)
def _scatter_add(T, C, tb, s, cb):
    """T[tb + ((i + s) mod Z) G + g] += C[cb + i G + g]  (c2v back to VN order)."""
    m = (_ZU - s) * _GU
    o = tb + s * _GU
    for j in range(m):
        T[o + j] += C[cb + j]
    cb2 = cb + m
    for j in range(s * _GU):
        T[tb + j] += C[cb2 + j]


@njit(inline="always", **_JIT)
def _scatter_sum(T, V, C, tb, s, vb, cb):
    """T[tb + ((i + s) mod Z) G + g] = V[vb + i G + g] + C[cb + i G + g]  (layered update)."""
    m = (_ZU - s) * _GU
    o = tb + s * _GU
    for j in range(m):
        T[o + j] = V[vb + j] + C[cb + j]
    vb2 = vb + m
    cb2 = cb + m
    for j in range(s * _GU):
        T[tb + j] = V[vb2 + j] + C[cb2 + j]


@njit(inline="always", **_JIT)
def _parity(T, par, tb, s):
    """par[i G + g] ^= 1 where the hard decision of VN (i + s) mod Z is 1 (T <= 0)."""
    m = (_ZU - s) * _GU
    o = tb + s * _GU
    for j in range(m):
        par[j] ^= np.int32(T[o + j] <= _ZERO)
    for j in range(s * _GU):
        par[m + j] ^= np.int32(T[tb + j] <= _ZERO)


@njit(inline="always", **_JIT)
def _p1_spa(V, C, A1, A2, A3, vb, cb, kc):
    """tanh-domain SPA, first pass. With e = exp(-|v|), t = tanh(|v|/2) = (1 - e) / (1 + e) is
    kept as a fraction: A1 = prod(1 - e) (with t clipped to [_T_LO, _T_HI]), A2 = prod(1 + e),
    A3 = product of the signs; C keeps the signed e of the edge for the second pass. No
    division here, one per message in the second pass."""
    _LLR_MAX = kc[23]
    _ONE = kc[0]
    _T_LO = kc[24]
    _T_HI = kc[25]
    _P_FLOOR = kc[28]
    for j in range(_ZG):
        v = V[vb + j]
        e = exp32_kc(-min(abs(v), _LLR_MAX), kc)
        d = _ONE + e
        n = min(max(_ONE - e, _T_LO * d), _T_HI * d)
        A1[j] = max(A1[j] * n, _P_FLOOR)
        A2[j] = A2[j] * d
        A3[j] = _xorsign(A3[j], v)
        C[cb + j] = _xorsign(e, v)


@njit(inline="always", **_JIT)
def _p2_spa(C, A1, A2, A3, cb, kc):
    """Extrinsic p = prod_{k' != k} t_k' = (A1 d_k) / (A2 n_k), clipped to [_P_LO, _P_HI];
    c2v = 2 atanh(p) = log((1 + p) / (1 - p)) = log((B + A) / (B - A)) with A = A1 d_k,
    B = A2 n_k."""
    _ONE = kc[0]
    _T_LO = kc[24]
    _T_HI = kc[25]
    _P_LO = kc[26]
    _P_HI = kc[27]
    _OUT_HI = kc[29]
    for j in range(_ZG):
        x = C[cb + j]
        e = abs(x)
        d = _ONE + e
        n = min(max(_ONE - e, _T_LO * d), _T_HI * d)
        a = A1[j] * d
        b = A2[j] * n
        a = min(max(a, _P_LO * b), _P_HI * b)
        y = min(log32_kc((b + a) / (b - a), kc), _OUT_HI)
        C[cb + j] = _xorsign(_xorsign(y, A3[j]), x)


@njit(inline="always", **_JIT)
def _p1_phi(V, C, A1, A3, vb, cb, kc):
    _LLR_MAX = kc[23]
    _TINY = kc[30]
    for j in range(_ZG):
        v = V[vb + j]
        ph = _phi(min(abs(v), _LLR_MAX), kc)
        A3[j] = _xorsign(A3[j], v)
        A1[j] += ph
        # floor: phi(16.6) rounds to 0 in float32, and the edge's sign must survive in C
        C[cb + j] = _xorsign(max(ph, _TINY), v)


@njit(inline="always", **_JIT)
def _p2_phi(C, A1, A3, cb, kc):
    _LLR_MAX = kc[23]
    for j in range(_ZG):
        x = C[cb + j]
        y = _phi(A1[j] - abs(x), kc)
        C[cb + j] = _xorsign(_xorsign(min(y, _LLR_MAX), A3[j]), x)


@njit(inline="always", **_JIT)
def _p1_min(V, C, A1, A2, A3, vb, cb, kc):
    _LLR_MAX = kc[23]
    _TINY = kc[30]
    for j in range(_ZG):
        v = V[vb + j]
        a = min(abs(v), _LLR_MAX)
        A3[j] = _xorsign(A3[j], v)
        m1 = A1[j]
        A2[j] = max(m1, min(A2[j], a))  # = min(m2, max(m1, a)) for m1 <= m2
        A1[j] = min(m1, a)
        C[cb + j] = _xorsign(max(a, _TINY), v)


@njit(inline="always", **_JIT)
def _p2_min(C, A1, A2, A3, cb, scale, offset, kc):
    """Min-sum second pass: y = max(scale * min_other - offset, 0) (scale = alpha for "nms",
    offset = beta for "oms", else 1 and 0: exact, as y >= 0)."""
    _TINY = kc[30]
    for j in range(_ZG):
        x = C[cb + j]
        m1 = A1[j]
        y = A2[j] if abs(x) <= max(m1, _TINY) else m1  # the minimum's own edge gets the second one
        y = max(y * scale - offset, _ZERO)
        C[cb + j] = _xorsign(_xorsign(y, A3[j]), x)


@njit(inline="always", **_JIT)
def _fill(A, v, n):
    for j in range(n):
        A[j] = v


@njit(inline="always", **_JIT)
def _cn_row(T, Tn, C, V, A1, A2, A3, r, row_ptr, e_col, e_shift, cn_mode, alpha, beta, layered,
            kc):
    """Check-node update of block row ``r`` for all Z checks and all lanes.

    Flooding: reads T (a-posteriori LLRs of the previous iteration) and accumulates the new
    c2v messages into Tn (initialised to the channel LLRs). Layered: updates T in place."""
    e0 = row_ptr[r]
    d = row_ptr[r + _U1] - e0
    for k in range(d):
        e = e0 + k
        _gather(T, C, V, e_col[e] * _ZG, e_shift[e], e * _ZG, k * _ZG)
    _fill(A3, _ONE, _ZG)
    if cn_mode == 0:
        _fill(A1, _ONE, _ZG)
        _fill(A2, _ONE, _ZG)
        for k in range(d):
            _p1_spa(V, C, A1, A2, A3, k * _ZG, (e0 + k) * _ZG, kc)
        for k in range(d):
            _p2_spa(C, A1, A2, A3, (e0 + k) * _ZG, kc)
    elif cn_mode == 1:
        _fill(A1, _ZERO, _ZG)
        for k in range(d):
            _p1_phi(V, C, A1, A3, k * _ZG, (e0 + k) * _ZG, kc)
        for k in range(d):
            _p2_phi(C, A1, A3, (e0 + k) * _ZG, kc)
    else:
        _fill(A1, _F(3.0e38), _ZG)
        _fill(A2, _F(3.0e38), _ZG)
        scale = alpha if cn_mode == 3 else _ONE
        offset = beta if cn_mode == 4 else _ZERO
        for k in range(d):
            _p1_min(V, C, A1, A2, A3, k * _ZG, (e0 + k) * _ZG, kc)
        for k in range(d):
            _p2_min(C, A1, A2, A3, (e0 + k) * _ZG, scale, offset, kc)
    for k in range(d):
        e = e0 + k
        if layered:
            # T = v2c + new c2v with the *unclipped* v2c: keeps T = L + sum(c2v) exact
            _scatter_sum(T, V, C, e_col[e] * _ZG, e_shift[e], k * _ZG, e * _ZG)
        else:
            _scatter_add(Tn, C, e_col[e] * _ZG, e_shift[e], e * _ZG)


@njit(inline="always", **_JIT)
def _syndrome(T, par, bad, lane_w, row_ptr, e_col, e_shift, mb):
    """bad[g] = 1 unless lane g is active and its hard decision satisfies all checks.

    Stops at the first block row after which no active lane can still be valid."""
    n_bad = 0
    for g in range(_G):
        bad[g] = lane_w[g] < 0
        n_bad += bad[g]
    if n_bad == _G:
        return
    for r in range(mb):
        _fill(par, np.int32(0), _ZG)
        for e in range(row_ptr[r], row_ptr[r + _U1]):
            _parity(T, par, e_col[e] * _ZG, e_shift[e])
        for i in range(_U1, _ZU):  # OR the Z checks of each lane into par[0:G] (8-wide SIMD)
            for g in range(_GU):
                par[g] |= par[i * _GU + g]
        for g in range(_G):
            if par[g] != 0:
                bad[g] = True
        n_bad = 0
        for g in range(_G):
            n_bad += bad[g]
        if n_bad == _G:
            return


@njit(cache=True, nogil=True, error_model="numpy")  # no fastmath: keeps the -0.0 test
def _load_lane(llr, w, g, L, T, C, nv, n_c):
    """Put codeword w (or nothing if w < 0) into lane g: L = T = clipped -llr, C = 0.

    -0.0 becomes +0.0 here: the kernels take message signs from the sign bit (branch-free),
    which then agrees with ``v < 0`` everywhere (T and v can never be -0.0 afterwards)."""
    gu = _U(g)
    if w >= 0:
        for v in range(nv):
            x = -llr[w, v]  # internal domain log P0/P1 (= -logit), clipped like Sionna
            x = min(max(x, -_LLR_MAX), _LLR_MAX)
            if x == _ZERO:
                x = _ZERO
            L[v * _GU + gu] = x
            T[v * _GU + gu] = x
    else:
        for v in range(nv):
            L[v * _GU + gu] = _ZERO
            T[v * _GU + gu] = _ZERO
    for q in range(n_c):
        C[q * _GU + gu] = _ZERO


@njit(**_JIT)
def _decode_chunk(llr, out, iters, oks, w0, w1, row_ptr, e_col, e_shift, nb, mb, num_iter,
                  layered, cn_mode, alpha, beta, early, dmax, K):
    nv = nb * _ZU
    n_e = e_col.shape[0]
    n_c = _U(n_e) * _ZU
    L = np.empty(nv * _GU, dtype=np.float32)
    T = np.empty(nv * _GU, dtype=np.float32)
    Tn = np.empty(nv * _GU, dtype=np.float32)
    C = np.empty(n_c * _GU, dtype=np.float32)
    V = np.empty(_U(dmax) * _ZG, dtype=np.float32)
    A1 = np.empty(_ZG, dtype=np.float32)
    A2 = np.empty(_ZG, dtype=np.float32)
    A3 = np.empty(_ZG, dtype=np.float32)
    par = np.empty(_ZG, dtype=np.int32)
    bad = np.zeros(_G, dtype=np.bool_)
    lane_w = np.full(_G, -1, dtype=np.int64)
    lane_it = np.zeros(_G, dtype=np.int64)
    kc = to_fixed_tuple(K, _NKC)
    nxt = w0
    for g in range(_G):
        w = nxt if nxt < w1 else -1
        _load_lane(llr, w, g, L, T, C, nv, n_c)
        lane_w[g] = w
        if w >= 0:
            nxt += 1
    while True:
        # finished lanes: write out, refill, and check the refilled ones (iteration 0)
        while True:
            need = early
            for g in range(_G):
                if lane_w[g] >= 0 and lane_it[g] >= num_iter:
                    need = True
            if need:
                _syndrome(T, par, bad, lane_w, row_ptr, e_col, e_shift, mb)
            refilled = False
            for g in range(_G):
                w = lane_w[g]
                if w < 0:
                    continue
                if (early and not bad[g]) or lane_it[g] >= num_iter:
                    gu = _U(g)
                    for v in range(nv):
                        out[w, v] = 1 if T[v * _GU + gu] <= _ZERO else 0
                    iters[w] = lane_it[g]
                    oks[w] = not bad[g]
                    w = nxt if nxt < w1 else -1
                    _load_lane(llr, w, g, L, T, C, nv, n_c)
                    lane_w[g] = w
                    lane_it[g] = 0
                    if w >= 0:
                        nxt += 1
                        refilled = True
            if not refilled:
                break
        active = 0
        for g in range(_G):
            if lane_w[g] >= 0:
                active += 1
        if active == 0:
            break
        if layered:
            for r in range(mb):
                _cn_row(T, Tn, C, V, A1, A2, A3, _U(r), row_ptr, e_col, e_shift, cn_mode,
                        alpha, beta, True, kc)
        else:
            for j in range(nv * _GU):
                Tn[j] = L[j]
            for r in range(mb):
                _cn_row(T, Tn, C, V, A1, A2, A3, _U(r), row_ptr, e_col, e_shift, cn_mode,
                        alpha, beta, False, kc)
            T, Tn = Tn, T
        for g in range(_G):
            lane_it[g] += 1


@njit(parallel=True, **_JIT)
def _decode_batch(llr, out, iters, oks, row_ptr, e_col, e_shift, nb, mb, num_iter, layered,
                  cn_mode, alpha, beta, early, n_chunks, dmax, K):
    b = llr.shape[0]
    for ch in prange(n_chunks):
        w0 = (b * ch) // n_chunks
        w1 = (b * (ch + 1)) // n_chunks
        _decode_chunk(llr, out, iters, oks, w0, w1, row_ptr, e_col, e_shift, _U(nb), _U(mb),
                      num_iter, layered, cn_mode, alpha, beta, early, dmax, K)


# ----------------------------------------------------------------------------- tables
@lru_cache(maxsize=16)
def _tables(base_bytes: bytes, shape: tuple[int, int], z: int):
    """Edges of the base matrix grouped by block row: (row_ptr [mb + 1], column [E], shift [E]), uint64."""
    base = np.frombuffer(base_bytes, dtype=np.int16).reshape(shape)
    mb, nb = shape
    rows, cols = np.nonzero(base >= 0)
    shifts = base[rows, cols]
    row_ptr = np.zeros(mb + 1, dtype=np.int64)
    np.add.at(row_ptr, rows + 1, 1)
    row_ptr = np.cumsum(row_ptr)
    u = np.uint64
    return row_ptr.astype(u), cols.astype(u), shifts.astype(u)


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
    row_ptr, e_col, e_shift = _tables(base.tobytes(), base.shape, z)
    out = np.empty((b, n), dtype=np.uint8)
    iters = np.zeros(b, dtype=np.int32)
    oks = np.zeros(b, dtype=np.bool_)
    if b:
        n_chunks = max(1, min(b // (4 * _G), 2 * numba.get_num_threads()))
        _decode_batch(llr, out, iters, oks, row_ptr, e_col, e_shift, nb, mb, int(num_iter),
                      SCHEDULES[schedule] == 1, CN_RULES[cn], np.float32(alpha),
                      np.float32(beta), bool(early_stop), n_chunks,
                      int(np.diff(row_ptr.astype(np.int64)).max()), _KC)
    if return_info:
        return out, iters, oks
    return out


def warmup() -> None:
    """Compile (or load from the cache) the numba kernels."""
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
