"""VQ-DeepVSC (seed 002): MSVQ, interpolator, key frames, SNR law, selector/restorer, bits, robustness.

Built on tiny untrained networks exported to a temporary directory (the plumbing does not
depend on the weights); the shipped zoo is checked at the end.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from semlink.codecs import Received, ReceivedPart, get_codec
from semlink.codecs.base import ChannelState
from semlink.semantic.vqdeepvsc import bitstream as bs
from semlink.semantic.vqdeepvsc.channel_fit import ChannelTable, shipped_channel_table
from semlink.semantic.vqdeepvsc.checkpoint import export_interpolator, export_msvq, load_msvq
from semlink.semantic.vqdeepvsc.concealment import GREY, KEEP, index_reliability, key_frame_reliability, kept_key_frames
from semlink.semantic.vqdeepvsc.interp import Interpolator, dis_interpolate, learned_interpolate, warp
from semlink.semantic.vqdeepvsc.interp_task import TripletSampler
from semlink.semantic.vqdeepvsc.keyframes import RhoLaw, RhoLaws, frame_importance, gaps, seam, select_key_frames
from semlink.semantic.vqdeepvsc.msvq import MSVQ, perplexity
from semlink.semantic.vqdeepvsc.selector import restore, select


def _clip(n=6, h=32, w=48, seed=0):
    """A moving pattern: frame k is the pattern shifted by 2k pixels, plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w + 4 * n]
    pat = np.stack([128 + 100 * np.sin(xx / 5.0), 128 + 90 * np.cos(yy / 4.0), (3 * xx + yy) % 256], -1)
    frames = [pat[:, 2 * k : 2 * k + w] for k in range(n)]
    return np.clip(np.stack(frames) + rng.normal(0, 4, (n, h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("vqdeepvsc")
    torch.manual_seed(0)
    m = MSVQ(widths=(8, 8, 8), c=4, d=4, L=64, levels=(1, 2, 4))
    m.train()
    m(torch.rand(2, 3, 32, 32), torch.tensor([4, 4]))  # k-means initialisation of the codebook
    export_msvq(m, d / "msvq.pt", {"test": True})
    export_interpolator(Interpolator((8, 8, 8), (4, 4, 4, 4)), d / "interp.pt", {"test": True})
    return str(d / "msvq.pt"), str(d / "interp.pt")


def _codec(tiny, **kw):
    return get_codec("vqdeepvsc", msvq=tiny[0], interp=tiny[1], **kw)


# ----------------------------------------------------------------------------- MSVQ
def test_msvq_shapes_and_nested_channels(tiny):
    m = load_msvq(tiny[0])
    x = torch.rand(2, 3, 48, 64)
    idx = m.encode_indices(x)
    assert idx.shape == (2, 4, 6, 8) and idx.dtype == torch.int64 and 0 <= int(idx.min()) and int(idx.max()) < 64
    assert m.bits_per_index == 6 and m.factor == 8
    for k in (1, 2, 4):
        y = m.decode_indices(idx[:, :k], k)
        assert y.shape == (2, 3, 48, 64) and float(y.min()) >= 0 and float(y.max()) <= 1
    # out-of-range indices (a corrupted stream) are clipped, never an IndexError
    bad = idx[:, :2].clone()
    bad[0, 0, 0, 0] = 10_000
    assert m.decode_indices(bad, 2).shape == (2, 3, 48, 64)
    # the lookup of the encoder's indices reproduces eq. 9's nearest codewords
    z = m.encoder(x).float()
    v = m.quantizer._to_vectors(z)
    q = m.quantizer._to_vectors(m.quantizer.lookup(idx))
    d_near = (v - q).pow(2).sum(-1)
    d_all = torch.cdist(v, m.quantizer.codebook[None].expand(2, -1, -1)).pow(2)
    assert torch.allclose(d_near, d_all.min(-1).values, atol=1e-4)


def test_msvq_training_step_and_perplexity():
    torch.manual_seed(0)
    m = MSVQ(widths=(8, 8), c=2, d=4, L=16, levels=(1, 2))
    out = m(torch.rand(3, 3, 16, 16), torch.tensor([1, 2, 2]))
    assert out["x_hat"].shape == (3, 3, 16, 16) and out["indices"].shape == (3, 2, 4, 4)
    out["x_hat"].mean().add(out["vq_loss"]).backward()
    assert m.encoder.conv_in.weight.grad is not None  # the straight-through estimator reaches the encoder
    assert perplexity(torch.arange(16), 16) == pytest.approx(16.0)
    assert perplexity(torch.zeros(50, dtype=torch.long), 16) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="power of two"):
        MSVQ(L=1000)


# ----------------------------------------------------------------------------- interpolation
def test_warp_identity_and_shift():
    x = torch.rand(1, 3, 8, 10)
    assert torch.allclose(warp(x, torch.zeros(1, 2, 8, 10)), x, atol=1e-6)
    flow = torch.zeros(1, 2, 8, 10)
    flow[:, 0] = 1.0  # out(p) = x(p + (1, 0))
    assert torch.allclose(warp(x, flow)[..., :-1], x[..., 1:], atol=1e-5)


def test_interpolators_shapes():
    clip = _clip(3, 40, 56)
    net = Interpolator((8, 8, 8), (4, 4, 4, 4))
    out = learned_interpolate(net, clip[0], clip[2], [0.25, 0.5])
    assert len(out) == 2 and out[0].shape == clip[0].shape and out[0].dtype == np.uint8
    d = dis_interpolate(clip[0], clip[2], [np.float64(0.5)])[0]  # numpy times too
    assert d.shape == clip[0].shape
    # the classical variant is better than repeating a neighbour on a translating pattern
    err = lambda a: float(np.mean((a.astype(float) - clip[1]) ** 2))  # noqa: E731
    assert err(d) < err(clip[0])


def test_triplet_sampler_is_seeded():
    v = [("a", _clip(12, 40, 40))]
    s = TripletSampler(v, 32, 3, seed=5, max_gap=4)
    a, b = s.batch(7), s.batch(7)
    assert a.shape == (3, 10, 32, 32) and np.array_equal(a, b)
    t = a[:, 9, 0, 0]
    assert np.all((t > 0) & (t < 1))
    # synthetic global motion: the middle frame is the window at the interpolated position
    photo = np.random.default_rng(3).integers(0, 256, (90, 90, 3), dtype=np.uint8)
    s = TripletSampler(v, 32, 4, seed=1, max_gap=4, photos=[photo], synthetic=1.0, motion=3)
    for sample in s.batch(0):
        pos = []
        f0 = np.rint(sample[0:3].transpose(1, 2, 0) * 255).astype(np.uint8)
        src = photo  # the sampler may mirror the triple horizontally
        if not (np.lib.stride_tricks.sliding_window_view(src, (32, 32, 3))[:, :, 0] == f0).all(axis=(2, 3, 4)).any():
            src = photo[:, ::-1]
        windows = np.lib.stride_tricks.sliding_window_view(src, (32, 32, 3))[:, :, 0]
        for j in range(3):
            f = np.rint(sample[3 * j : 3 * j + 3].transpose(1, 2, 0) * 255).astype(np.uint8)
            hit = np.argwhere((windows == f).all(axis=(2, 3, 4)))
            assert len(hit) == 1  # every frame is one exact window of the photo
            pos.append(hit[0])
        t = sample[9, 0, 0]
        assert 0 < t < 1 and np.allclose(pos[1], pos[0] + t * (pos[2] - pos[0]))  # constant velocity


def test_dis_teacher_flows_follow_the_true_motion():
    from semlink.semantic.vqdeepvsc.interp import warp
    from semlink.semantic.vqdeepvsc.interp_task import dis_teacher_flows, distillation

    clip = _clip(3, 64, 80)  # frame k is the pattern shifted by 2k pixels: mid(p) = f0(p + 2) = f1(p - 2)
    x = torch.from_numpy(np.concatenate([clip.transpose(0, 3, 1, 2).reshape(9, 64, 80),
                                         np.full((1, 64, 80), 127.5, np.float32)]) / 255.0).float()[None]
    x[:, 9] = 0.5
    t = dis_teacher_flows(x)
    assert t.shape == (1, 4, 64, 80)
    inner = t[0, :, 8:-8, 8:-8]
    assert abs(float(inner[0].median()) - 2) < 0.3 and abs(float(inner[2].median()) + 2) < 0.3
    assert float(inner[1].abs().median()) < 0.3 and float(inner[3].abs().median()) < 0.3
    # the student that already moves like the teacher pays nothing; a still student pays
    w0, w1 = warp(x[:, 0:3], t[:, :2]), warp(x[:, 6:9], t[:, 2:4])
    assert float(distillation(t.clone(), x, w0, w1)) == 0.0
    zero = torch.zeros_like(t)
    assert float(distillation(zero, x, x[:, 0:3], x[:, 6:9])) > 1.0


def test_validation_triplets_are_capped_evenly():
    from semlink.semantic.vqdeepvsc.interp_task import validation_triplets

    vids = [(str(i), _clip(30, 40, 48, seed=i)) for i in range(6)]
    full = validation_triplets(vids, 32, 0.3)
    capped = validation_triplets(vids, 32, 0.3, most=5)
    assert len(full) > 5 and len(capped) == 5
    assert torch.equal(capped[0], full[0]) and torch.equal(capped[-1], full[-1])  # spread over the whole list
    assert all(t.shape[:2] == (1, 10) and float(t[0, 9, 0, 0]) == 0.5 for t in capped)


# ----------------------------------------------------------------------------- key frames
def test_importance_selection_gaps_and_seam():
    clip = _clip(7)
    clip[3] = 255 - clip[3]  # a frame no interpolator can predict
    beta = frame_importance(clip, lambda a, b, ts: [((a.astype(int) + b) // 2).astype(np.uint8) for _ in ts])
    assert np.isinf(beta[0]) and np.isinf(beta[-1]) and int(np.argmax(beta[1:-1])) + 1 == 3
    v = select_key_frames(beta, 3)
    assert v.tolist() == [1, 0, 0, 1, 0, 0, 1]
    assert gaps(v).tolist() == [2, 2]
    assert select_key_frames(beta, 0).tolist() == [1, 0, 0, 0, 0, 0, 1]  # first and last always
    keys = [clip[i] for i in np.flatnonzero(v)]
    calls = []
    out = seam(keys, v, lambda a, b, ts: calls.append(ts) or [a for _ in ts])
    assert out.shape == clip.shape and np.array_equal(out[3], clip[3])
    assert calls == [[1 / 3, 2 / 3], [1 / 3, 2 / 3]]


def test_rho_laws_per_channel_and_pooled_fallback():
    low = RhoLaw.fit([0, 10, 20], [0.25, 0.25, 1.0], degree=1, v=0.0)
    high = RhoLaw.fit([0, 10, 20], [0.25, 1.0, 1.0], degree=1, v=0.0)
    pooled = RhoLaw.fit([0, 10, 20, 0, 10, 20], [0.25, 0.25, 1.0, 0.25, 1.0, 1.0], degree=1, v=0.0)
    laws = RhoLaws.from_json({**pooled.to_json(), "per_channel": {"tdl-c": low.to_json(), "awgn": high.to_json()}})
    assert laws.law_for("awgn") == (high, "awgn") and laws.law_for("tdl-c") == (low, "tdl-c")
    assert laws.law_for("rayleigh") == (pooled, "pooled") and laws.law_for(None)[1] == "pooled"
    assert laws(10.0, 16, "awgn") == high(10.0, 16) > laws(10.0, 16, "tdl-c") == low(10.0, 16)
    assert RhoLaws.from_json(pooled.to_json()).per_channel == ()  # a file from before per-channel laws


def test_rho_law_fit_l1_l2():
    snr = [0, 4, 8, 12, 16, 20]
    x = np.log(10 ** (np.array(snr) / 10))
    rho = 0.2 + 0.15 * x  # exactly linear in ln(gamma)
    law = RhoLaw.fit(snr, rho, degree=1, regularization="l2", v=0.0)
    assert law.coefficients == pytest.approx((0.2, 0.15), abs=1e-9)
    assert law(0.0, 16) == pytest.approx(0.2) and law(30.0, 16) == 1.0 and law(-30.0, 16) == 2 / 16
    l1 = RhoLaw.fit(snr, rho, degree=2, regularization="l1", v=1e-4)
    assert l1.coefficients[2] == pytest.approx(0.0, abs=1e-3) and l1(8.0) == pytest.approx(0.2 + 0.15 * x[2], abs=1e-2)
    assert RhoLaw.from_json(law.to_json()) == law
    with pytest.raises(ValueError, match="regularization"):
        RhoLaw.fit(snr, rho, regularization="l3")


# ----------------------------------------------------------------------------- selector / restorer
def test_selector_restorer_round_trip():
    rng = np.random.default_rng(1)
    cb = rng.normal(size=(32, 4))
    idx = rng.integers(0, 32, (4, 20))
    idx[1, :10] = idx[0, :10]  # repeated indices: cosine 1
    for eta in (2.0, 1.0, 0.5, -1.0):
        s_eta, p = select(idx, cb, eta)
        assert p.shape == (3, 20) and s_eta.size == 20 + int(p.sum())
        back, ok = restore(s_eta, p, 4, 20)
        assert ok
        if eta > 1:
            assert np.array_equal(back, idx) and p.all()
        # what the receiver holds is what the selector assumed it holds (no drift)
        for k in range(1, 4):
            sent = p[k - 1].astype(bool)
            assert np.array_equal(back[k][sent], idx[k][sent])
            assert np.all(back[k][~sent] == back[k - 1][~sent])
    s_eta, p = select(idx, cb, 1.0)
    assert not p[0, :10].any()  # identical vectors are not sent at eta = 1
    # damaged inputs: never raise, flag the inconsistency
    short, ok = restore(s_eta[:-7], p, 4, 20)
    assert short.shape == (4, 20) and not ok
    _, ok = restore(np.concatenate([s_eta, [1, 2]]), p, 4, 20)
    assert not ok


# ----------------------------------------------------------------------------- bits (eq. 19)
def test_pack_uint_and_header():
    vals = np.array([0, 1, 1023, 512, 7])
    data = bs.pack_uint(vals, 10)
    assert len(data) == math.ceil(5 * 10 / 8) and np.array_equal(bs.unpack_uint(data, 5, 10), vals)
    with pytest.raises(ValueError):
        bs.pack_uint([1024], 10)
    h = bs.Header(16, 240, 320, 3, 10, 2, 1234, tuple([1] + [0] * 14 + [1]))
    raw = h.pack()
    assert len(raw) == bs.HEADER_COPIES * bs.Header.block_size(16) and bs.Header.parse(raw) == h
    bad = bytearray(raw)
    bad[3] ^= 0xFF  # first copy damaged: the second is used
    assert bs.Header.parse(bytes(bad)) == h
    for k in range(bs.HEADER_COPIES):  # every copy damaged at a different byte: the majority repairs it
        bad[k * bs.Header.block_size(16) + 3 + k % 10] ^= 0x10
    assert bs.Header.parse(bytes(bad)) == h
    # soft combining: every copy has 40 % of its bits flipped (weak LLRs), the LLR sum recovers it
    rng = np.random.default_rng(0)
    bits = np.unpackbits(np.frombuffer(raw, np.uint8)).astype(float)
    flip = rng.random(bits.size) < 0.4
    llr = np.where(bits == 1, 1.0, -1.0) * np.where(flip, -0.2, 1.0)
    noisy = np.packbits(((llr > 0) != 0).astype(np.uint8)).tobytes()
    with pytest.raises(ValueError):
        bs.Header.parse(noisy)  # hard copies and their majority are not enough here ...
    assert bs.Header.parse(noisy, llr) == h  # ... the LLR sum is
    with pytest.raises(ValueError):
        bs.Header.parse(bytes(len(raw)))


def test_bits_match_eq19_by_hand(tiny):
    clip = _clip(6, 32, 48)
    codec = _codec(tiny, rho=0.5, eta=2.0, channels=2)
    enc = codec.encode(clip)
    info = enc.info
    # N = 6, rho = 0.5 -> M = 3; latent 4 x 6 (factor 8), c = 2 -> L_s = 48; B = log2 64 = 6
    n, m, ls, b = 6, 3, 4 * 6 * 2, 6
    assert (info["key_frames"], info["l_s"], info["bits_per_index"], info["repeats"]) == (m, ls, b, 1)
    assert info["l_eta"] == m * ls  # eta > 1 sends every index
    assert info["bcr_eq19"] == pytest.approx((n + m * ls * b + ls * (m - 1)) / (3 * 32 * 48 * 8 * n), abs=1e-6)
    assert len(enc.parts["indices"]) == math.ceil(m * ls * b / 8)
    assert len(enc.parts["p"]) == math.ceil(ls * (m - 1) / 8)
    assert len(enc.parts["header"]) == bs.HEADER_COPIES * bs.Header.block_size(n)
    assert info["bits_header"] == 8 * len(enc.parts["header"])
    assert enc.num_bits == 8 * sum(len(v) for v in enc.parts.values())
    assert info["bcr"] == pytest.approx(enc.num_bits / (3 * 32 * 48 * 8 * n), abs=1e-6)


def test_round_trip_budget_and_repeats(tiny):
    clip = _clip(8, 32, 48)
    full = _codec(tiny, rho=1.0).encode(clip, bcr=0.05)
    few = _codec(tiny, rho=0.25).encode(clip, bcr=0.05)
    for enc in (full, few):
        assert enc.info["target_met"] and enc.num_bits <= 0.05 * 3 * 32 * 48 * 8 * 8
        assert enc.info["channels_source"] == "most that fit"  # the shipped table is not this model's
    assert _codec(tiny, rho=1.0, channels="most").encode(clip, bcr=0.05).info["channels"] == full.info["channels"]
    assert few.info["channels"] == full.info["channels"]  # the channel configuration is fixed by the BCR
    assert few.info["key_frames"] == 2 and few.info["repeats"] > full.info["repeats"]
    for interp in ("learned", "dis"):  # both interpolators fill the gaps of an intact stream
        rec = _codec(tiny, rho=0.25, interpolator=interp).decode(few)
        assert rec.decoded_ok and rec.reason == "" and rec.frames.shape == clip.shape and rec.recovered == 1.0
    # the receiver in bf16 autocast: the same frames up to rounding; the precision is in the tool string
    f32, b16 = _codec(tiny, rho=0.25, precision="fp32"), _codec(tiny, rho=0.25, precision="bf16")
    r32, r16 = f32.decode(few), b16.decode(few)
    assert "receiver fp32" in f32.tool() and "receiver bf16" in b16.tool()
    assert r16.decoded_ok and np.abs(r32.frames.astype(int) - r16.frames).max() <= 16
    # the adaptive law: a bad channel gives fewer key frames than a good one
    ad = _codec(tiny)
    if ad.rho_law() is not None:
        lo = ad.encode(clip, bcr=0.05, channel_state=ChannelState(0.0, modulation="qpsk"))
        hi = ad.encode(clip, bcr=0.05, channel_state=ChannelState(30.0, modulation="qpsk"))
        assert lo.info["rho_source"] == "adaptive (awgn law)" and lo.info["key_frames"] <= hi.info["key_frames"]
        other = ad.encode(clip, bcr=0.05, channel_state=ChannelState(0.0, channel="rayleigh", modulation="qpsk"))
        assert other.info["rho_source"] == "adaptive (pooled law)"


def test_frame_importance_is_computed_once_per_clip(tiny, monkeypatch):
    """Eq. 4 depends only on the clip (not on the SNR, the key-frame ratio or the budget): a codec
    that codes one clip at several settings interpolates its frames once, with the same result."""
    from semlink.semantic.vqdeepvsc import codec as codec_mod

    calls = []
    real = codec_mod.frame_importance
    monkeypatch.setattr(codec_mod, "frame_importance", lambda *a, **k: calls.append(1) or real(*a, **k))
    clip, other = _clip(6, 32, 48), _clip(6, 32, 48, seed=5)
    fresh = _codec(tiny, rho=0.5).encode(clip, bcr=0.05)
    codec = _codec(tiny, rho=0.5)
    encs = [codec.encode(clip, bcr=0.05), codec.encode(clip, bcr=0.03), codec.encode(other, bcr=0.05),
            codec.encode(clip, bcr=0.05)]
    assert len(calls) == 1 + 2  # the first codec once; the second once per distinct clip
    assert encs[0].parts == encs[3].parts == fresh.parts and encs[0].info == fresh.info
    assert encs[1].num_bits < encs[0].num_bits  # the budget still applies
    for i in range(codec.IMPORTANCE_CACHE + 1):  # the cache stays bounded
        codec._importance(_clip(3, 16, 16, seed=10 + i), codec._models())
    assert len(codec._beta) == codec.IMPORTANCE_CACHE


def test_channel_rule_spends_bits_where_they_pay():
    t = ChannelTable("x", {2: 0.676, 3: 0.678, 4: 0.677, 6: 0.690, 8: 0.691}, {2: 18.0, 3: 18.0, 4: 18.0, 6: 18.3, 8: 18.3})
    assert t.choose([2, 3, 4]) == 2  # 3 and 4 add less than TOLERANCE: their bits become repetitions
    assert t.choose([2, 3, 4, 6, 8]) == 6 and t.choose([2, 3, 4, 6, 8], tolerance=0.0) == 8
    assert t.choose([2, 5]) == 5  # a level the table lacks counts as the best
    with pytest.raises(ValueError, match="ms_ssim and psnr_db"):
        ChannelTable("x", {2: 0.5}, {})
    with pytest.raises(ValueError, match="channel_quality.json"):
        ChannelTable.from_json({"levels": {}})
    shipped = shipped_channel_table()  # measured for the zoo's MSVQ, on training frames
    assert shipped is not None and len(shipped.msvq_sha256) == 64 and "training frames" in shipped.source
    assert set(shipped.ms_ssim) == {2, 3, 4, 6, 8}


def test_combining_uses_checked_copies_then_llrs():
    data = bytes(range(10))
    r = 3
    sent = bs.repeat(data, r)
    rx = bytearray(sent)
    rx[2] ^= 0xFF  # copy 0 damaged at byte 2 ...
    ok = np.ones(30, bool)
    ok[0:5] = False  # ... in a failed packet; copy 1 intact there
    out, frac = bs.combine(bytes(rx), ok, None, r, 10)
    assert out == data and frac == 1.0
    # no checked copy of bytes 0..4: majority of the three decoded copies
    ok[10:15] = ok[20:25] = False
    out, frac = bs.combine(bytes(rx), ok, None, r, 10)
    assert out == data and frac == pytest.approx(0.5)
    # with LLRs: their sum decides (copy 0 confidently wrong is outvoted by two moderate ones)
    bits = np.unpackbits(np.frombuffer(sent, np.uint8)).astype(float)
    llr = np.where(bits == 1, 2.0, -2.0)
    llr[16:24] *= -1.5  # copy 0, byte 2 flipped with |llr| 3
    out, _ = bs.combine(bytes(rx), ok, llr, r, 10)
    assert out == data
    # short part: zero-padded, never raises
    out, frac = bs.combine(b"\x01", None, None, 2, 4)
    assert len(out) == 4 and frac == 0.0


def test_combine_soft_gives_bit_error_probabilities():
    data = bytes([0b10110001, 0x0F, 0xAA])
    r = 2
    sent = bs.repeat(data, r)
    bits = np.unpackbits(np.frombuffer(sent, np.uint8)).astype(float)
    llr = np.where(bits == 1, 1.0, -1.0)
    ok = np.array([True, False, False, False, False, False])  # byte 0 checked in copy 0, bytes 1-2 never
    out, frac, pe = bs.combine_soft(sent, ok, llr, r, 3)
    assert out == data and frac == pytest.approx(1 / 3) and pe.shape == (24,)
    assert np.all(pe[:8] == 0)  # from a CRC-checked copy
    assert np.allclose(pe[8:], 1 / (1 + np.exp(2.0)))  # two copies of |LLR| 1: |sum| = 2
    _, _, pe = bs.combine_soft(sent, ok, None, r, 3)  # no LLRs: a majority, nothing known
    assert np.all(pe[8:] == 0.5) and np.all(pe[:8] == 0)
    _, frac, pe = bs.combine_soft(b"", None, None, 1, 2)  # nothing arrived: never raises
    assert frac == 0.0 and np.all(pe == 0.5)


def test_key_frame_reliability_follows_the_restorer():
    # B = 2 bits per index: an index with both bits at error probability 0.5 is right with 0.25
    assert np.allclose(index_reliability(np.array([0, 0, 0.5, 0.5, 0.1, 0]), 3, 2), [1.0, 0.25, 0.9])
    assert np.allclose(index_reliability(np.zeros(2), 2, 2), [1.0, 1.0 * 0.25])  # missing bits: unknown
    m, ls = 3, 4
    p = np.array([[1, 0, 0, 0], [0, 1, 0, 0]])  # frame 2 sends index 0, frame 3 sends index 1
    q_eta = np.array([1.0, 1.0, 1.0, 0.2, 1.0, 1.0])  # frame 1's index 3 is doubtful
    q = key_frame_reliability(q_eta, p, np.zeros(8), m, ls)
    assert np.allclose(q, [0.8, 0.8, 0.8])  # the restorer copies index 3 into frames 2 and 3
    q = key_frame_reliability(q_eta[:5], p, np.zeros(8), m, ls)  # s_eta short: frame 3's index is padded
    assert np.allclose(q, [0.8, 0.8, (1 + 0 + 1 + 0.2) / 4])
    pe = np.zeros(8)
    pe[5] = 0.5  # a doubtful mask bit of frame 3 misaligns it
    q = key_frame_reliability(np.ones(6), p, pe, m, ls)
    assert np.allclose(q, [1.0, 1.0, 0.5])
    # the rule: KEEP first, then GREY, else nothing (mid-grey)
    assert kept_key_frames(np.array([0.95, 0.5, 0.92])).tolist() == [True, False, True]
    assert kept_key_frames(np.array([0.5, 0.2, 0.3])).tolist() == [True, False, True]
    assert not kept_key_frames(np.array([GREY - 0.01, 0.0])).any() and 0 < GREY < KEEP < 1


def _with_index_damage(enc, frac_unchecked, llr_size, seed=0):
    """A received stream whose ``indices`` part has its last ``frac_unchecked`` bytes unchecked,
    with LLRs of magnitude ``llr_size`` and random signs there (other parts intact)."""
    rng = np.random.default_rng(seed)
    parts = {k: ReceivedPart.intact(v, with_llr=True) for k, v in enc.parts.items()}
    data = enc.parts["indices"]
    n = len(data)
    cut = int(round(n * (1 - frac_unchecked)))
    bits = np.unpackbits(np.frombuffer(data, np.uint8)).astype(np.float32)
    llr = np.where(bits == 1, 10.0, -10.0).astype(np.float32)
    llr[8 * cut :] = llr_size * rng.choice([-1.0, 1.0], 8 * (n - cut))
    rx = np.packbits(llr > 0).tobytes()
    parts["indices"] = ReceivedPart(rx, np.array([True, False]), np.array([0, cut]), np.array([cut, n - cut]), llr)
    return Received(enc.codec, enc.kind, enc.shape, parts)


def test_conceal_drops_unreliable_key_frames(tiny):
    clip = _clip(6, 32, 48)
    enc = _codec(tiny, rho=1.0, eta=2.0, max_repeats=1).encode(clip, bcr=0.5)  # eta 2: every index sent
    assert enc.info["key_frames"] == 6 and enc.info["repeats"] == 1
    conceal, decode = _codec(tiny, rho=1.0, interpolator="dis"), _codec(tiny, rho=1.0, interpolator="dis", on_loss="decode")
    assert conceal.on_loss == "conceal" and decode.on_loss == "decode"
    clean = conceal.decode(Received(enc.codec, enc.kind, enc.shape, {k: ReceivedPart.intact(v) for k, v in enc.parts.items()}))
    assert clean.decoded_ok
    # the last third of the indices (key frames 5, 6) arrive as noise with no information
    rx = _with_index_damage(enc, 1 / 3, 0.0)
    rc, rd = conceal.decode(rx), decode.decode(rx)
    assert not rc.decoded_ok and "2 of 6 key frames dropped" in rc.reason and rc.recovered < 1
    assert np.array_equal(rc.frames[:4], clean.frames[:4])  # the reliable key frames decode as sent
    assert np.array_equal(rc.frames[4], clean.frames[3]) and np.array_equal(rc.frames[5], clean.frames[3])  # repeated
    assert not rd.decoded_ok and not np.array_equal(rd.frames[5], clean.frames[5])  # decode: garbage indices used
    # confident LLRs of a failed packet are trusted: nothing dropped
    rx = _with_index_damage(enc, 1 / 3, 30.0)
    assert "dropped" not in conceal.decode(rx).reason
    # nothing reliable at all: mid-grey, the reason says so
    rx = _with_index_damage(enc, 1.0, 0.0)
    rc = conceal.decode(rx)
    assert not rc.decoded_ok and "mid-grey" in rc.reason and np.all(rc.frames == 128)
    with pytest.raises(ValueError, match="on_loss"):
        get_codec("vqdeepvsc", on_loss="drop")


# ----------------------------------------------------------------------------- robustness
def _damaged(enc, rng, kind):
    parts = {}
    for name, data in enc.parts.items():
        b = bytearray(data)
        if kind == "flip" and b:
            for _ in range(int(rng.integers(1, 20))):
                b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        elif kind == "truncate":
            b = b[: int(rng.integers(0, len(b) + 1))]
        elif kind == "garbage":
            b = bytearray(rng.integers(0, 256, len(b), dtype=np.uint8).tobytes())
        ok = np.array([kind == "none"])
        parts[name] = ReceivedPart(bytes(b), ok, np.zeros(1, np.int64), np.array([len(b)], np.int64))
    return Received(enc.codec, enc.kind, enc.shape, parts)


def test_corrupted_streams_never_crash(tiny):
    codec = _codec(tiny, rho=0.5, interpolator="dis")
    clip = _clip(5, 32, 48)
    enc = codec.encode(clip, bcr=0.08)
    rng = np.random.default_rng(0)
    kinds = ("flip", "truncate", "garbage")
    for i in range(300):
        rec = codec.decode(_damaged(enc, rng, kinds[i % 3]))
        assert rec.frames.shape == clip.shape and rec.frames.dtype == np.uint8
        assert not rec.decoded_ok and rec.reason
    lost = Received(enc.codec, enc.kind, enc.shape, {k: ReceivedPart.lost(len(v)) for k, v in enc.parts.items()})
    rec = codec.decode(lost)
    assert not rec.decoded_ok and "header" in rec.reason


@pytest.mark.slow
def test_ten_thousand_corrupted_streams(tiny):
    codec = _codec(tiny, rho=0.5, interpolator="dis")
    clip = _clip(4, 32, 32)
    enc = codec.encode(clip, bcr=0.1)
    decode = _codec(tiny, rho=0.5, interpolator="dis", on_loss="decode")
    rng = np.random.default_rng(1)
    for i in range(10_000):
        rec = (codec, decode)[i % 2].decode(_damaged(enc, rng, ("flip", "truncate", "garbage")[i % 3]))
        assert rec.frames.shape == clip.shape


def test_options_are_validated(tiny):
    for bad in ({"rho": 0}, {"rho": "auto"}, {"eta": "x"}, {"channels": 0}, {"channels": "many"}, {"interpolator": "rife"},
                {"importance": "psnr"}, {"max_repeats": 0}, {"precision": "fp16"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            get_codec("vqdeepvsc", **bad)
    with pytest.raises(ValueError, match="2..255 frames"):
        _codec(tiny).encode(_clip(1))


# ----------------------------------------------------------------------------- training tasks
def _write_video(path, frames):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_training_tasks_run_and_export(tmp_path):
    from PIL import Image

    from semlink.semantic.vqdeepvsc.checkpoint import load_interpolator
    from semlink.train.loop import TrainConfig, train

    vids = tmp_path / "videos"
    vids.mkdir()
    _write_video(vids / "a.avi", _clip(20, 80, 96))
    cfg = TrainConfig(lmbda=1.0, steps=2, out=str(tmp_path / "if"), model="vqdeepvsc-ifnet", batch=2, crop=64,
                      val_fraction=0.2, val_every=2, progress=False, threads=1,
                      options={"videos": str(vids), "downscale": 1, "max_gap": 4, "ifnet_ch": [8, 8, 8],
                               "fusion_ch": [4, 4, 4, 4]})
    train(cfg)
    net = load_interpolator(tmp_path / "if" / "vqdeepvsc-ifnet.pt")
    assert net.ifnet_ch == (8, 8, 8)
    head = (tmp_path / "if" / "val.csv").read_text().splitlines()[0].split(",")
    assert head[:3] == ["step", "loss", "psnr"] and {"psnr_dis", "psnr_linear_blend"} <= set(head)  # both baselines
    # --init from an exported checkpoint (as the v2 recipe starts from the zoo's file)
    opts = {"videos": str(vids), "downscale": 1, "max_gap": 4, "ifnet_ch": [8, 8, 8], "fusion_ch": [4, 4, 4, 4]}
    cfg2 = TrainConfig(lmbda=1.0, steps=1, out=str(tmp_path / "if2"), model="vqdeepvsc-ifnet", batch=2, crop=64,
                       val_fraction=0.2, val_every=5, progress=False, threads=1, init=str(tmp_path / "if" / "vqdeepvsc-ifnet.pt"),
                       options=opts)
    train(cfg2)
    assert load_interpolator(tmp_path / "if2" / "vqdeepvsc-ifnet.pt").ifnet_ch == (8, 8, 8)
    with pytest.raises(ValueError, match="configuration"):
        train(TrainConfig(lmbda=1.0, steps=1, out=str(tmp_path / "if3"), model="vqdeepvsc-ifnet", batch=2, crop=64,
                          progress=False, threads=1, init=str(tmp_path / "if" / "vqdeepvsc-ifnet.pt"),
                          options={**opts, "ifnet_ch": [8, 8, 4]}))
    train(TrainConfig(lmbda=1.0, steps=2, out=str(tmp_path / "if4"), model="vqdeepvsc-ifnet", batch=2, crop=64,
                      val_fraction=0.2, val_every=5, log_every=1, progress=False, threads=1,
                      options={**opts, "w_teacher": 0.01}))
    log = (tmp_path / "if4" / "log.csv").read_text().splitlines()
    col = log[0].split(",").index("l_distill")
    assert float(log[-1].split(",")[col]) > 0  # the DIS teacher term ran

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        Image.fromarray(_clip(1, 64, 64, seed=i)[0]).save(imgs / f"{i}.png")
    cfg = TrainConfig(lmbda=1e-4, steps=3, out=str(tmp_path / "vq"), model="vqdeepvsc-msvq", batch=2, crop=64,
                      data=str(imgs), progress=False, threads=1,
                      options={"widths": [8, 8], "c": 2, "d": 4, "L": 16, "levels": [1, 2], "val_keep": 2,
                               "gan_start": 1, "d_channels": 8})
    train(cfg)
    m = load_msvq(tmp_path / "vq" / "vqdeepvsc-msvq.pt")
    assert m.L == 16 and m.levels == (1, 2)
    log = (tmp_path / "vq" / "log.csv").read_text().splitlines()
    assert log[0].split(",")[:3] == ["step", "loss", "mse"] and "perplexity" in log[0]
    perc = log[0].split(",").index("perc")  # eq. 12 ran (on ImageNet VGG-16, the default trunk)
    assert float(log[-1].split(",")[perc]) > 0
    # --init from the exported MSVQ (a campaign whose run folder was lost goes on from the zoo's file)
    cfg_init = dataclasses.replace(cfg, steps=1, out=str(tmp_path / "vq2"), init=str(tmp_path / "vq" / "vqdeepvsc-msvq.pt"))
    train(cfg_init)
    state = torch.load(tmp_path / "vq2" / "train_state.pt", map_location="cpu", weights_only=False)
    assert state["init_meta"]["init_step"] == 3 and len(state["init_meta"]["init_sha256"]) == 64
    with pytest.raises(ValueError, match="configuration"):
        train(dataclasses.replace(cfg_init, out=str(tmp_path / "vq3"), options={**cfg.options, "L": 32}))
    with pytest.raises(ValueError, match="unknown option"):
        train(TrainConfig(lmbda=0.0, steps=1, out=str(tmp_path / "x"), model="vqdeepvsc-msvq", crop=64,
                          data=str(imgs), progress=False, options={"codebook": 3}))


def test_shipped_interpolator_beats_the_linear_blend_on_a_pan():
    """The zoo's interpolator against the linear blend at t = 0.5 on a 2-px-per-frame pan
    (measured with v2: 32.6-33.1 dB vs 24.0-25.1, v1 27.7-28.0; OpenCV DIS 33.8-34.0, which it
    does not reach yet)."""
    from semlink.semantic.vqdeepvsc.checkpoint import load_interpolator
    from semlink.semantic.vqdeepvsc.interp import learned_interpolate
    from semlink.simulator import metrics
    from semlink.zoo.checkpoints import load_checkpoint

    net = load_interpolator(load_checkpoint("vqdeepvsc-ifnet"))
    for h, w in ((64, 96), (96, 128)):
        a, t, b = _clip(3, h, w)
        blend = ((a.astype(np.uint16) + b + 1) // 2).astype(np.uint8)
        assert metrics.psnr(t, learned_interpolate(net, a, b, [0.5])[0]) > metrics.psnr(t, blend) + 2.0


def test_shipped_msvq_quality_rises_with_the_channels_sent():
    """The zoo's MSVQ uses its nested channels: on held-out frames (the first frame of each
    evaluation clip, 240x320; never training data) quality rises from 2 to 4 channels
    (measured with the v2 shipped at step 2405: 25.83 -> 26.30 dB, MS-SSIM 0.906 -> 0.919). v1 was flat
    (23.16 -> 23.09 dB, 0.810 -> 0.811)."""
    from semlink.data import get_dataset
    from semlink.semantic.vqdeepvsc.checkpoint import load_msvq
    from semlink.simulator import metrics
    from semlink.zoo.checkpoints import load_checkpoint

    m = load_msvq(load_checkpoint("vqdeepvsc-msvq"))
    frames = np.stack([it.data[0] for it in get_dataset("clips", max_frames=1, size=264, crop=(240, 320))])
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        idx = m.encode_indices(x)
        rec = {k: (m.decode_indices(idx[:, :k], k).permute(0, 2, 3, 1).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
               for k in (2, 4)}
    q = {k: np.mean([metrics.psnr(a, b) for a, b in zip(frames, r)]) for k, r in rec.items()}
    s = {k: np.mean([metrics.ms_ssim(a, b) for a, b in zip(frames, r)]) for k, r in rec.items()}
    assert q[4] > q[2] + 0.2 and s[4] > s[2] + 0.005, (q, s)
