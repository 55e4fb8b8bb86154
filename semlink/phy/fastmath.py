"""Vectorisable float32 ``exp`` and ``log`` for numba kernels (the demapper and the LDPC decoder).

Numba lowers ``np.exp`` / ``np.log`` on float32 to scalar libm calls, which LLVM cannot
vectorise without Intel's SVML (not available with the PyPI llvmlite). These versions are plain
float/integer arithmetic (Cephes ``expf`` / ``logf`` range reduction and polynomials, the
polynomials in Estrin's scheme for short dependency chains; bit manipulation of the IEEE-754
representation through an LLVM ``bitcast``), so loops over them compile to SIMD code. Accuracy
over their domain: relative error below 2e-7 (a few float32 ulps), checked against numpy in
``tests/test_fastmath.py``.

* :func:`exp32(x)`: any float32 ``x``; arguments below -86 return exp(-86) ~ 4e-38 instead of 0 and
  above 88.4 return ~2.7e38 instead of inf (the demapper only takes ``exp`` of values <= 0 and
  adds 1, so neither end matters there). NaN in, garbage out.
* :func:`log32(x)`: positive normal float32 ``x`` (>= 1.2e-38); 0, negative, inf or NaN
  inputs give garbage, so callers must guarantee the domain.
* :func:`exp32_kc(x, kc)` / :func:`log32_kc(x, kc)`: the same functions (``exp32_kc`` without
  the clamping: ``x`` must lie in [-86, 88.4]) with their float32 constants read from a tuple
  ``kc`` whose first :data:`N_KC` entries are :data:`KC`. A kernel that loads ``kc`` at run
  time (``to_fixed_tuple`` of an array argument) keeps the constants in registers: numba's JIT
  uses LLVM's large code model, in which literal vector constants are re-materialised inside
  the loops. :func:`exp32` / :func:`log32` pass :data:`KC` itself (compile-time literals).

Numba's on-disk cache of a kernel that inlines these functions (:mod:`semlink.phy.siso`,
:mod:`semlink.phy.ldpc_fast`) is keyed on the kernel's own source file only: after editing this
module, delete those modules' cached ``__pycache__/*.nbi`` / ``*.nbc`` files.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["exp32", "log32", "exp32_kc", "log32_kc", "KC", "KC_NAMES", "N_KC"]

_F = np.float32

#: Names of the constants in :data:`KC`, in order (Cephes ``expf`` / ``logf``).
KC_NAMES = (
    "ONE", "HALF",
    "LOG2E", "EXP_C1", "EXP_C2",  # exp range reduction (ln 2 split in two: Cody-Waite)
    "EP0", "EP1", "EP2", "EP3", "EP4", "EP5",  # exp polynomial
    "SQRTHF",  # log range reduction
    "LP0", "LP1", "LP2", "LP3", "LP4", "LP5", "LP6", "LP7", "LP8",  # log polynomial
    "LQ1", "LQ2",  # ln 2 split in two (log)
)
#: The float32 constants of :func:`exp32_kc` / :func:`log32_kc`, in the order of :data:`KC_NAMES`.
KC = tuple(
    _F(v)
    for v in (
        1.0, 0.5,
        1.44269504088896341, 0.693359375, -2.12194440e-4,
        1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
        5.0000001201e-1,
        0.707106781186547524,
        7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
        -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
        -2.12194440e-4, 0.693359375,
    )
)
N_KC = len(KC)
assert len(KC_NAMES) == N_KC

_EXP_HI = _F(88.3762626647949)
_EXP_LO = _F(-86.0)  # keeps 2**n and the result normal (denormals are slow)


@intrinsic
def _pow2i(typingctx, n):
    """float32 2**n for an integral float32 n in [-126, 127] (exponent-field construction, all in
    32-bit lanes so that loops over it vectorise)."""
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


@njit(inline="always", cache=True, error_model="numpy")
def exp32_kc(x, kc):  # pragma: no cover - compiled
    """exp(x) for float32 x in [-86, 88.4] (no clamping), constants from ``kc`` (module docstring)."""
    _ONE = kc[0]
    _HALF = kc[1]
    _LOG2E = kc[2]
    _EXP_C1 = kc[3]
    _EXP_C2 = kc[4]
    _EP0 = kc[5]
    _EP1 = kc[6]
    _EP2 = kc[7]
    _EP3 = kc[8]
    _EP4 = kc[9]
    _EP5 = kc[10]
    fx = np.floor(x * _LOG2E + _HALF)
    r = x - fx * _EXP_C1 - fx * _EXP_C2
    z = r * r
    # Cephes polynomial, evaluated in Estrin's scheme (short dependency chains: the kernels
    # are latency-bound otherwise)
    y = (_EP4 * r + _EP5) + z * ((_EP2 * r + _EP3) + z * (_EP0 * r + _EP1))
    y = (y * z + r) + _ONE
    return y * _pow2i(fx)


@njit(inline="always", cache=True, error_model="numpy")
def log32_kc(x, kc):  # pragma: no cover - compiled
    """log(x) for a normal float32 x > 0, constants from ``kc`` (module docstring)."""
    _ONE = kc[0]
    _HALF = kc[1]
    _SQRTHF = kc[11]
    _LP0 = kc[12]
    _LP1 = kc[13]
    _LP2 = kc[14]
    _LP3 = kc[15]
    _LP4 = kc[16]
    _LP5 = kc[17]
    _LP6 = kc[18]
    _LP7 = kc[19]
    _LP8 = kc[20]
    _LQ1 = kc[21]
    _LQ2 = kc[22]
    e = _exponent(x)
    m = _mantissa(x)
    small = m < _SQRTHF
    e = e - _ONE if small else e
    m = (m + m - _ONE) if small else (m - _ONE)
    z = m * m
    z2 = z * z
    # Cephes polynomial sum_i _LP[8 - i] m**i, Estrin's scheme
    q03 = (_LP8 + _LP7 * m) + z * (_LP6 + _LP5 * m)
    q48 = (_LP4 + _LP3 * m) + z * (_LP2 + _LP1 * m) + z2 * _LP0
    y = (q03 + z2 * q48) * (m * z)
    y = y + e * _LQ1 - _HALF * z
    return m + y + e * _LQ2


@njit(inline="always", cache=True, error_model="numpy")
def exp32(x):  # pragma: no cover - compiled
    """exp(x) for float32 x (see module docstring for the domain)."""
    return exp32_kc(min(max(_F(x), _EXP_LO), _EXP_HI), KC)


@njit(inline="always", cache=True, error_model="numpy")
def log32(x):  # pragma: no cover - compiled
    """Natural log of a positive normal float32 x (see module docstring)."""
    return log32_kc(_F(x), KC)
