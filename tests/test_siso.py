"""semlink.phy.siso against Sionna 2.x: Gray-QAM demapping and 1x1 LMMSE/ZF equalization."""

import numpy as np
import pytest
import torch

from semlink.phy import siso

import sionna.phy.mapping as sionna_mapping  # noqa: E402  (a hard dependency)


@pytest.mark.parametrize("k", [2, 4, 6])
def test_constellation_matches_sionna(k):
    ref = sionna_mapping.Constellation("qam", k)().detach().cpu().numpy()
    np.testing.assert_allclose(siso.qam_constellation(k), ref, rtol=0, atol=1e-6)
    assert abs(np.mean(np.abs(siso.qam_constellation(k)) ** 2) - 1) < 1e-6


def _channel_symbols(k, n, snr_db, rng):
    pts = siso.qam_constellation(k)
    x = pts[rng.integers(0, 2**k, n)]
    # per-symbol noise variances spanning 20 dB around the nominal SNR (as after equalization)
    no = (10 ** (-(snr_db + rng.uniform(-10, 10, n)) / 10)).astype(np.float32)
    w = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * np.sqrt(no / 2)
    return (x + w).astype(np.complex64), no


@pytest.mark.parametrize("method", ["maxlog", "app"])
@pytest.mark.parametrize("k", [2, 4, 6])
@pytest.mark.parametrize("snr_db", [0.0, 15.0])
def test_demapper_matches_sionna(k, method, snr_db):
    rng = np.random.default_rng(10 * k + int(snr_db))
    y, no = _channel_symbols(k, 4000, snr_db, rng)
    ref = sionna_mapping.Demapper(method, "qam", k)(torch.as_tensor(y), torch.as_tensor(no))
    ref = ref.detach().cpu().numpy().reshape(-1, k)
    got = siso.demap_qam(y, no, k, method=method)
    assert got.shape == (4000, k) and got.dtype == np.float32
    scale = np.abs(ref).max(axis=1, keepdims=True) + 1.0
    np.testing.assert_allclose(got / scale, ref / scale, rtol=0, atol=2e-5)
    assert (np.sign(got) == np.sign(ref))[np.abs(ref) > 1e-3].all()
    # torch path gives the same numbers
    got_t = siso.demap_qam(torch.as_tensor(y), torch.as_tensor(no), k, method=method)
    np.testing.assert_allclose(got_t.numpy(), got, rtol=1e-5, atol=1e-4)


def test_demapper_scalar_no_and_string_modulation():
    rng = np.random.default_rng(3)
    y, _ = _channel_symbols(4, 100, 10.0, rng)
    a = siso.demap_qam(y, 0.1, "16qam")
    b = siso.demap_qam(y, np.full(100, 0.1, np.float32), 4)
    np.testing.assert_array_equal(a, b)
    # noiseless symbols decide to their own labels
    pts = siso.qam_constellation(6)
    llr = siso.demap_qam(pts, 1e-3, 6)
    labels = (np.arange(64)[:, None] >> (5 - np.arange(6))) & 1
    np.testing.assert_array_equal((llr > 0).astype(int), labels)


@pytest.mark.parametrize("kind", ["lmmse", "zf"])
def test_equalizer_matches_sionna_1x1(kind):
    from sionna.phy.mimo import lmmse_equalizer, zf_equalizer

    rng = np.random.default_rng(7)
    n = 2000
    h = ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)).astype(np.complex64)
    y = ((rng.standard_normal(n) + 1j * rng.standard_normal(n))).astype(np.complex64)
    err_var = rng.uniform(0, 0.05, n).astype(np.float32)
    no = np.float32(0.1)
    s = torch.as_tensor((no + err_var).astype(np.complex64)).reshape(n, 1, 1)
    yt, ht = torch.as_tensor(y).reshape(n, 1), torch.as_tensor(h).reshape(n, 1, 1)
    if kind == "lmmse":
        xr, nr = lmmse_equalizer(yt, ht, s, precision="double")
        x, ne = siso.equalize_lmmse(y, h, err_var, no)
    else:
        xr, nr = zf_equalizer(yt, ht, s, precision="double")
        x, ne = siso.equalize_zf(y, h, err_var, no)
    assert x.dtype == np.complex64 and ne.dtype == np.float32
    np.testing.assert_allclose(x, xr.numpy().ravel(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ne, nr.numpy().ravel(), rtol=1e-4, atol=1e-7)
    # torch inputs
    xt, nt = siso.equalize_lmmse(torch.as_tensor(y), torch.as_tensor(h), torch.as_tensor(err_var), no)
    np.testing.assert_allclose(xt.numpy(), x, rtol=1e-5)
    np.testing.assert_allclose(nt.numpy(), ne, rtol=1e-5)


def test_equalizer_zero_channel_gives_erasure():
    x, ne = siso.equalize_lmmse(np.array([1 + 1j, 2j], np.complex64), np.array([0, 1], np.complex64), 0.0, 0.1)
    assert x[0] == 0 and np.isinf(ne[0]) and np.isclose(ne[1], 0.1)
    llr = siso.demap_qam(x, ne, 4)
    assert (llr[0] == 0).all()


@pytest.mark.parametrize("k,method", [(2, "app"), (4, "app"), (4, "maxlog"), (6, "app"), (8, "maxlog")])
def test_fused_equalize_demap_equals_the_separate_steps(k, method):
    """equalize_demap == demap_qam(equalize_lmmse(...)) gathered by idx and scattered by perm."""
    rng = np.random.default_rng(k)
    s, r = 5, 300
    h = ((rng.standard_normal((s, r)) + 1j * rng.standard_normal((s, r))) / np.sqrt(2)).astype(np.complex64)
    h[0, :7] = 0  # deep fades -> erasures
    x = siso.qam_constellation(k)[rng.integers(0, 2**k, (s, r))]
    no = 0.05
    y = (h * x + np.sqrt(no / 2) * (rng.standard_normal((s, r)) + 1j * rng.standard_normal((s, r)))).astype(np.complex64)
    idx = np.sort(rng.choice(r, 250, replace=False))
    ev = rng.uniform(0, 0.01, 250).astype(np.float32)
    perm = rng.permutation(250 * k)
    got = siso.equalize_demap(y, h, ev, no, k, method, perm=perm, idx=idx)
    x_hat, no_eff = siso.equalize_lmmse(y[:, idx], h[:, idx], ev, no)
    ref_tx = siso.demap_qam(x_hat, no_eff, k, method).reshape(s, -1)
    ref = np.empty_like(ref_tx)
    ref[:, perm] = ref_tx
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(got))
    zero_pos = [perm[i * k + c] for i in range(len(idx)) if idx[i] < 7 for c in range(k)]
    assert np.all(got[0, zero_pos] == 0)  # no channel: LLR 0
    with pytest.raises(ValueError, match="perm"):
        siso.equalize_demap(y, h, ev, no, k, method, perm=perm[:-1], idx=idx)
