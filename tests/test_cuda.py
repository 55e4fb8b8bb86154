"""CUDA paths against the CPU ones. Skipped (with the reason shown by ``-ra``) where torch sees
no CUDA device: these never ran on the project's CPU-only CI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_hyperprior_streams_cross_devices():
    """A stream encoded on CUDA decodes on the CPU (and vice versa) with the same symbols."""
    from semlink.codecs import get_codec
    from semlink.data import get_dataset
    from semlink.simulator import metrics

    cpu, gpu = get_codec("hyperprior"), get_codec("hyperprior", device="cuda")
    x = get_dataset("photos", max_items=1).items[0].data
    q = cpu.qualities()[1]
    for enc_codec, dec_codec in ((gpu, cpu), (cpu, gpu)):
        enc = enc_codec.encode(x, quality=q)
        a, b = dec_codec.decode(enc), enc_codec.decode(enc)
        assert a.decoded_ok and b.decoded_ok, (a.reason, b.reason)
        assert metrics.psnr(a.image, b.image) > 45  # same symbols; g_s rounding differs by device


def test_link_on_cuda_matches_cpu_statistically():
    from semlink.phy import Link, LinkConfig

    payload = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    res = {}
    for dev in ("cpu", "cuda"):
        link = Link(LinkConfig(channel="tdl-c", modulation="16qam", estimator="ls", device=dev))
        res[dev] = link.transmit(payload, 20.0, np.random.default_rng(1))
    assert res["cuda"].payload_bits == res["cpu"].payload_bits
    assert abs(res["cuda"].raw_ber - res["cpu"].raw_ber) < 0.2 * res["cpu"].raw_ber + 1e-3


def test_torch_ldpc_decoder_on_cuda_equals_cpu_numba():
    from semlink.phy import ldpc_fast
    from semlink.phy.ldpc import LDPCCode

    code = LDPCCode()
    rng = np.random.default_rng(3)
    c = code.encode(rng.integers(0, 2, (256, code.k), dtype=np.uint8))
    llr = (2 * (2.0 * c - 1) / 0.55**2 + 2 * rng.normal(0, 1, c.shape) / 0.55).astype(np.float32)
    a = ldpc_fast.decode(code.base, code.z, llr)
    b = ldpc_fast.decode(code.base, code.z, llr, device="cuda")
    assert np.mean(np.all(a == np.asarray(b), axis=1)) > 0.99
