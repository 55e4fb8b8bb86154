"""semlink.phy.ldpc_fast against Sionna's LDPCBPDecoder on the 802.11n n = 648 codes.

Statistical comparison (documented significance level ALPHA = 1e-3, two-sided, i.e. |z| < 3.29):

* frame error rate: two-proportion z-test (frames are independent);
* bit error rate: paired test on the per-codeword bit-error counts (both decoders see the very
  same LLRs; bits within a codeword are correlated, so the codeword is the sampling unit);
* plus codeword-by-codeword agreement: flooding sum-product with early termination must give
  the same codeword as Sionna's flooding sum-product (20 iterations, no early stop) for at
  least 98 % of the codewords (differences come from float rounding and from the rare
  codeword that BP leaves again after having reached it).
"""

import numpy as np
import pytest

from semlink.phy import ldpc_fast
from semlink.phy.ldpc import LDPCCode

import sionna.phy.fec.ldpc  # noqa: E402,F401  (a hard dependency: fail, never skip)

Z_CRIT = 3.29  # two-sided ALPHA = 1e-3


def _bpsk_llr(code, ebno_db, b, rng):
    c = code.encode(rng.integers(0, 2, (b, code.k), dtype=np.uint8))
    sig2 = 1.0 / (2 * code.code_rate * 10 ** (ebno_db / 10))
    y = (2.0 * c - 1.0) + np.sqrt(sig2) * rng.standard_normal(c.shape)
    return c, (2.0 * y / sig2).astype(np.float32)  # log P(1)/P(0)


@pytest.fixture(scope="module", params=["3/4", "1/2"])
def code(request):
    return LDPCCode(rate=request.param)


def test_noiseless_is_bit_exact(code):
    rng = np.random.default_rng(0)
    c = code.encode(rng.integers(0, 2, (64, code.k), dtype=np.uint8))
    for amp in (0.5, 4.0, 1e4):
        llr = (amp * (2.0 * c - 1.0)).astype(np.float32)
        for schedule in ("flooding", "layered"):
            out, iters, ok = ldpc_fast.decode(code.base, code.z, llr, schedule=schedule, return_info=True)
            np.testing.assert_array_equal(out, c)
            assert ok.all() and (iters == 0).all()  # channel decisions already satisfy H c = 0
    # without early termination all iterations run and the codeword stays
    out, iters, ok = ldpc_fast.decode(code.base, code.z, llr, num_iter=5, early_stop=False, return_info=True)
    np.testing.assert_array_equal(out, c)
    assert (iters == 5).all() and ok.all()


@pytest.mark.parametrize("schedule,cn", [("flooding", "spa"), ("flooding", "phi"), ("layered", "spa"),
                                         ("layered", "nms"), ("layered", "oms"), ("flooding", "minsum")])
def test_high_snr_valid_codewords(code, schedule, cn):
    rng = np.random.default_rng(1)
    c, llr = _bpsk_llr(code, 6.0, 200, rng)
    out, iters, ok = ldpc_fast.decode(code.base, code.z, llr, schedule=schedule, cn=cn, return_info=True)
    assert out.dtype == np.uint8 and out.shape == c.shape
    np.testing.assert_array_equal(out, c)
    assert ok.all() and code.syndrome_ok(out).all() and iters.max() <= 5


def test_info_and_registry(code):
    rng = np.random.default_rng(2)
    c, llr = _bpsk_llr(code, 1.0, 100, rng)  # below threshold: many failures
    out, iters, ok = ldpc_fast.decode(code.base, code.z, llr, num_iter=7, return_info=True)
    np.testing.assert_array_equal(ok, code.syndrome_ok(out))
    assert (iters[~ok] == 7).all() and (iters[ok] <= 7).all() and (~ok).any()
    # LDPCCode.decode goes through the registry ("fast" = this module)
    np.testing.assert_array_equal(code.decode_codeword(llr, decoder="fast", num_iter=7), out)
    with pytest.raises(ValueError):
        ldpc_fast.decode(code.base, code.z, llr, schedule="zigzag")
    assert ldpc_fast.decode(code.base, code.z, llr[:0]).shape == (0, code.n)


# (rate, Eb/N0 dB) -> BER of flooding sum-product at 20 iterations: ~1e-2 and ~1e-4..1e-3
SNRS = {"3/4": (2.5, 3.5), "1/2": (1.3, 2.0)}


@pytest.mark.parametrize("point", [0, 1])
def test_ber_matches_sionna(code, point):
    ebno = SNRS[code.rate][point]
    rng = np.random.default_rng(100 + point)
    b = 600
    c, llr = _bpsk_llr(code, ebno, b, rng)
    ref = code.decode_codeword(llr, decoder="sionna", num_iter=20)
    out = ldpc_fast.decode(code.base, code.z, llr, num_iter=20)
    e_ref = (ref != c).sum(1)
    e_out = (out != c).sum(1)
    # frame error rate, two-proportion z-test
    f1, f2 = (e_out > 0).mean(), (e_ref > 0).mean()
    pool = (f1 + f2) / 2
    if pool > 0:
        z = (f1 - f2) / np.sqrt(2 * pool * (1 - pool) / b + 1e-300)
        assert abs(z) < Z_CRIT, (f1, f2, z)
    # bit error rate, paired test on per-codeword error counts
    d = e_out - e_ref
    if d.any():
        t = d.mean() / (d.std(ddof=1) / np.sqrt(b))
        assert abs(t) < Z_CRIT, (e_out.sum(), e_ref.sum(), t)
    # same inputs: codeword-by-codeword agreement
    agree = (out == ref).all(1).mean()
    assert agree >= 0.98, agree
    if point == 0:
        assert 1e-3 < e_ref.sum() / c.size < 5e-2  # the test point is where it is meant to be


def test_torch_path_matches_numba():
    code = LDPCCode(rate="3/4")
    rng = np.random.default_rng(5)
    c, llr = _bpsk_llr(code, 3.0, 40, rng)
    for schedule, cn in (("flooding", "spa"), ("layered", "nms")):
        a, ia, oa = ldpc_fast.decode(code.base, code.z, llr, schedule=schedule, cn=cn, return_info=True)
        t, it, ot = ldpc_fast.decode_torch(code.base, code.z, llr, schedule=schedule, cn=cn, return_info=True)
        assert (a == t).all(1).mean() >= 0.98
        np.testing.assert_array_equal(ot, code.syndrome_ok(t))


_OTHER_TARGET = r"""
import hashlib, sys
import numpy as np
from semlink.phy import ldpc_fast, siso
from semlink.phy.ldpc import LDPCCode
data = np.load(sys.argv[1])
out = []
for rate in ("3/4", "1/2"):
    code = LDPCCode(rate=rate)
    for cn in ("spa", "phi", "minsum"):
        bits, it, ok = ldpc_fast.decode(code.base, code.z, data["llr_" + rate.replace("/", "")], cn=cn, return_info=True)
        out.append(hashlib.sha256(bits.tobytes() + it.tobytes() + ok.tobytes()).hexdigest())
llr = siso.equalize_demap(data["y"], data["h"], 0.005, 0.06, 4)
out.append(hashlib.sha256(llr.tobytes()).hexdigest())
print(" ".join(out))
"""


@pytest.mark.skipif(__import__("platform").machine() not in ("x86_64", "AMD64"), reason="x86-64 targets only")
def test_decisions_are_identical_when_compiled_for_another_x86_cpu(tmp_path):
    """The PHY's numba kernels give the same bits when compiled for the baseline x86-64 target (SSE2,
    no FMA) as for this CPU: decisions and iteration counts of three check-node rules near the
    waterfall (where a last-bit difference flips codewords), and the demapper's LLRs."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    rng = np.random.default_rng(7)
    data = {}
    for rate, mu in (("3/4", (5.5, 8.0)), ("1/2", (3.0, 5.0))):
        # all-zero codewords, a reliability per codeword: 2-9 % fail, many decode in the last iterations.
        # (With fastmath, 12,001 of these told the SSE2 build from the AVX-512 one in the "phi" rule.)
        rel = rng.uniform(*mu, size=(12001, 1))
        data["llr_" + rate.replace("/", "")] = (-rel + np.sqrt(2 * rel) * rng.normal(size=(12001, 648))).astype(np.float32)
    data["h"] = ((rng.standard_normal((64, 52)) + 1j * rng.standard_normal((64, 52))) / np.sqrt(2)).astype(np.complex64)
    pts = __import__("semlink.phy.siso", fromlist=["x"]).qam_constellation(4)
    x = pts[rng.integers(0, 16, (64, 52))]
    data["y"] = (data["h"] * x + 0.17 * (rng.standard_normal((64, 52)) + 1j * rng.standard_normal((64, 52)))).astype(np.complex64)
    np.savez(tmp_path / "in.npz", **data)
    script = tmp_path / "decode.py"
    script.write_text(_OTHER_TARGET)
    repo = str(Path(__file__).resolve().parents[1])

    def run(extra: dict) -> str:
        env = {**os.environ, "PYTHONPATH": repo, **extra}
        p = subprocess.run([sys.executable, str(script), str(tmp_path / "in.npz")], env=env, capture_output=True,
                           text=True, timeout=900)
        assert p.returncode == 0, p.stderr[-2000:]
        return p.stdout.split()

    cache = Path(os.environ.get("SEMLINK_CACHE_DIR", Path.home() / ".cache" / "semlink"))
    here = run({})
    baseline = run({"NUMBA_CPU_NAME": "x86-64", "NUMBA_CPU_FEATURES": "+64bit,+cmov,+cx8,+fxsr,+mmx,+sse,+sse2",
                    "NUMBA_CACHE_DIR": str(cache / "numba-x86-64-baseline")})
    names = [f"ldpc {r} {cn}" for r in ("3/4", "1/2") for cn in ("spa", "phi", "minsum")] + ["16-QAM demapper"]
    assert len(here) == len(baseline) == len(names)
    differ = [n for n, a, b in zip(names, here, baseline) if a != b]
    assert not differ, f"kernels give other bits on the baseline x86-64 target: {differ}"
