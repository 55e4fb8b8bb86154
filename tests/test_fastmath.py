"""semlink.phy.fastmath: the vectorisable float32 exp/log used by the numba demapper."""

import numba
import numpy as np

from semlink.phy.fastmath import exp32, log32


@numba.njit(error_model="numpy")
def _apply(x, which, out):
    for i in range(x.shape[0]):
        out[i] = exp32(x[i]) if which == 0 else log32(x[i])


def test_exp32_matches_numpy():
    x = np.concatenate([np.linspace(-86, 88, 400_001), [0.0, -1e-8, 1e-8]]).astype(np.float32)
    out = np.empty_like(x)
    _apply(x, 0, out)
    ref = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - ref) / ref) < 2e-7
    # below the domain: clamped to exp(-86), a normal number (never NaN, never denormal)
    low = np.array([-87.0, -1e3, -np.inf], np.float32)
    got = np.empty_like(low)
    _apply(low, 0, got)
    assert np.all(got >= np.finfo(np.float32).tiny) and np.all(got < 1e-37)


def test_log32_matches_numpy():
    x = np.exp(np.linspace(-87, 88, 400_001)).astype(np.float32)
    x = np.concatenate([x, np.linspace(0.5, 2.0, 100_001, dtype=np.float32),
                        np.array([1.0, np.sqrt(2)], np.float32)])
    out = np.empty_like(x)
    _apply(x, 1, out)
    ref = np.log(x.astype(np.float64))
    err = np.abs(out - ref)
    assert np.max(err / np.maximum(np.abs(ref), 1.0)) < 2e-7
    assert out[-2] == 0.0
