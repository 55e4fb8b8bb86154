"""Vectorisable float32 ``exp`` and ``log`` for numba kernels.

Numba lowers ``np.exp`` / ``np.log`` on float32 to scalar libm calls, which LLVM cannot
vectorise without Intel's SVML (not available with the PyPI llvmlite). These versions are plain
float/integer arithmetic (Cephes ``expf`` / ``logf`` range reduction and polynomials, bit
manipulation of the IEEE-754 representation through an LLVM ``bitcast``), so loops over them
compile to SIMD code. Accuracy over their domain: relative error below 2e-7 (a few float32
ulps), checked against numpy in ``tests/test_fastmath.py``.

* :func:`exp32(x)`: any float32 ``x``; arguments below -86 return exp(-86) ~ 4e-38 instead of 0 and
  above 88.7 return ~3e38 instead of inf (the demapper only takes ``exp`` of values <= 0 and
  adds 1, so neither end matters there). NaN in, garbage out.
* :func:`log32(x)`: positive normal float32 ``x`` (>= 1.2e-38); 0, negative, inf or NaN
  inputs give garbage, so callers must guarantee the domain.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["exp32", "log32"]


@intrinsic
def _pow2(typingctx, n):
    """2**n as float32 for a float32 n holding an integer in [-126, 127] (exponent-field build,
    all in 32-bit lanes so that loops over it vectorise)."""
    if n != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        i = builder.fptosi(args[0], i32)
        i = builder.add(i, ir.Constant(i32, 127))
        i = builder.shl(i, ir.Constant(i32, 23))
        return builder.bitcast(i, ir.FloatType())

    return types.float32(types.float32), codegen


@intrinsic
def _split(typingctx, x):
    """(exponent, mantissa) of a positive normal float32: x = mantissa * 2**exponent with the
    mantissa in [1, 2); both float32."""
    if x != types.float32:
        return None
    ret = types.UniTuple(types.float32, 2)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        i = builder.bitcast(args[0], i32)
        e = builder.sub(builder.and_(builder.lshr(i, ir.Constant(i32, 23)), ir.Constant(i32, 255)), ir.Constant(i32, 127))
        m = builder.or_(builder.and_(i, ir.Constant(i32, 0x007FFFFF)), ir.Constant(i32, 0x3F800000))
        ef = builder.sitofp(e, ir.FloatType())
        mf = builder.bitcast(m, ir.FloatType())
        return context.make_tuple(builder, ret, [ef, mf])

    return ret(types.float32), codegen


_F = np.float32
_LOG2E = _F(1.44269504088896341)
_C1 = _F(0.693359375)  # ln 2 split in two for an exact range reduction (Cody-Waite)
_C2 = _F(-2.12194440e-4)
_EXP_HI = _F(88.3762626647949)
_EXP_LO = _F(-86.0)  # keeps 2**n and the result normal (denormals are slow)
_SQRT2 = _F(1.41421356237309505)


@njit(inline="always", cache=True, error_model="numpy")
def exp32(x):  # pragma: no cover - compiled
    """exp(x) for float32 x (see module docstring for the domain)."""
    x = min(max(_F(x), _EXP_LO), _EXP_HI)
    n = np.floor(x * _LOG2E + _F(0.5))
    r = x - n * _C1 - n * _C2
    z = r * r
    p = _F(1.9875691500e-4)
    p = p * r + _F(1.3981999507e-3)
    p = p * r + _F(8.3334519073e-3)
    p = p * r + _F(4.1665795894e-2)
    p = p * r + _F(1.6666665459e-1)
    p = p * r + _F(5.0000001201e-1)
    p = p * z + r + _F(1.0)
    return p * _pow2(n)


@njit(inline="always", cache=True, error_model="numpy")
def log32(x):  # pragma: no cover - compiled
    """Natural log of a positive normal float32 x (see module docstring)."""
    ef, m = _split(_F(x))  # x = m * 2**ef, m in [1, 2)
    big = m > _SQRT2
    m = m * _F(0.5) if big else m
    ef = ef + _F(1.0) if big else ef
    f = m - _F(1.0)  # in [-0.293, 0.414]
    z = f * f
    y = _F(7.0376836292e-2)
    y = y * f - _F(1.1514610310e-1)
    y = y * f + _F(1.1676998740e-1)
    y = y * f - _F(1.2420140846e-1)
    y = y * f + _F(1.4249322787e-1)
    y = y * f - _F(1.6668057665e-1)
    y = y * f + _F(2.0000714765e-1)
    y = y * f - _F(2.4999993993e-1)
    y = y * f + _F(3.3333331174e-1)
    y = y * f * z
    y = y + ef * _C2 - _F(0.5) * z
    return f + y + ef * _C1
