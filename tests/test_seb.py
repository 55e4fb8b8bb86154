"""Seb (seed 000): patches, Sebs, usage bits, gradient copy, set splitting, the codecs and the training task."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from link_damage import db_over_grey, link_damage

from semlink.codecs import EncodedSet, ReceivedSet, get_codec
from semlink.codecs.received import Received, ReceivedPart
from semlink.semantic.seb.bitstream import SetHeader, pack_usage, unpack_usage, usage_num_bits
from semlink.semantic.seb.model import (LAMBDAS, SebModel, concat, copy_gradient, divide, num_sebs,
                                        seb_clusters, usage_bits)
from semlink.semantic.seb.splitting import choose_j, split

TINY_INTER = {"n": 8, "m_motion": 8, "m_residual": 8, "mc_ch": 4}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A randomly initialised, tiny Seb checkpoint (weights are not the point here: the bits are)."""
    from semlink.semantic.seb.checkpoint import export_seb

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("seb") / "seb.pt"
    export_seb(SebModel(8, 4, inter=TINY_INTER), path, {"note": "test"})
    return str(path)


def _set(n=3, h=64, w=96, seed=0):
    """Correlated images: shifted crops of one smooth random picture."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8 + 4, w // 8 + 4, 3)).astype(np.float32)
    from PIL import Image

    big = np.asarray(Image.fromarray(base.astype(np.uint8)).resize(((w // 8 + 4) * 8, (h // 8 + 4) * 8), Image.BICUBIC))
    return [np.ascontiguousarray(big[2 * i: 2 * i + h, 3 * i: 3 * i + w]) for i in range(n)]


# ----------------------------------------------------------------------------- patches, K, R(A)
def test_divide_concat_round_trip():
    x = torch.rand(3, 3, 64, 96)
    p = divide(x)
    assert p.shape == (3 * 2 * 3, 3, 32, 32)
    assert torch.equal(p[4], x[0, :, 32:64, 32:64])  # image 0, row 1, column 1 (row-major)
    assert torch.equal(concat(p, 3, 64, 96), x)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        divide(torch.rand(1, 3, 48, 64))


def test_k_and_usage_bits_by_hand():
    # 3 images of 256x256: n_p = 64 patches each, 192 patches -> K = floor(192 / 25) = 7
    assert num_sebs(3 * 64) == 7 and num_sebs(24) == 1 and num_sebs(50) == 2
    assert usage_bits(192, 7) == pytest.approx(192 * math.log2(7))  # eq. 7: n x n_p x log2 K = 539.01 bits
    radices = np.full(192, 7)
    assert usage_num_bits(radices) == 540  # the integer 7^192 - 1 needs ceil(539.01) bits
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 7, 192)
    packed = pack_usage(digits, radices)
    assert len(packed) == 68  # ceil(540 / 8): eq. 7 plus < 1 bit, plus < 8 bits of byte padding
    back, problem = unpack_usage(packed, radices)
    assert problem == "" and np.array_equal(back, digits)
    # mixed radices (two subsets), K = 1 costs nothing
    r2 = np.array([3] * 10 + [1] * 5 + [5] * 7)
    d2 = np.array([rng.integers(0, k) for k in r2])
    assert usage_num_bits(r2) == math.ceil(10 * math.log2(3) + 7 * math.log2(5))
    assert np.array_equal(unpack_usage(pack_usage(d2, r2), r2)[0], d2)
    # damaged or wrong-length usage still gives digits in range, with a problem
    bad, problem = unpack_usage(b"\xff" * 70, radices)
    assert problem and bad.min() >= 0 and bad.max() < 7
    with pytest.raises(ValueError, match="outside"):
        pack_usage(np.array([3]), np.array([3]))


def test_set_header_round_trip_and_crc():
    h = SetHeader(4, (7, 2), ((256, 256), (240, 320), (64, 96)), (0, 1, 0))
    raw = h.pack()
    assert SetHeader.parse(raw) == h
    for i in range(len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 0x10
        with pytest.raises(ValueError):
            SetHeader.parse(bytes(bad))
    with pytest.raises(ValueError, match="subset index"):
        SetHeader(0, (3,), ((32, 32),), (1,))


def test_kmeans_sebs_and_usage():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (4, 16))
    f = np.concatenate([c + rng.normal(0, 0.1, (25, 16)) for c in centres])
    s, a = seb_clusters(f, 4, seed=0)
    assert s.shape == (4, 16) and a.shape == (100,)
    for k in range(4):  # each true cluster maps to one Seb
        assert len(set(a[25 * k: 25 * (k + 1)])) == 1
    assert np.abs(s[a] - f).max() < 1.0


# ----------------------------------------------------------------------------- gradient copy (Sec. III-B)
def test_copy_gradient_forward_value_and_backward_copy():
    members = torch.randn(5, 3, requires_grad=True)
    usage = torch.tensor([0, 1, 0, 2, 1])
    values = torch.randn(3, 3)
    out = copy_gradient(values, members, usage, mean=False)
    assert torch.allclose(out, values)
    g = torch.randn(3, 3)
    (out * g).sum().backward()
    assert torch.allclose(members.grad, g[usage])  # d/dF_i = d/dS_{A_i}: copied, not shared
    members.grad = None
    (copy_gradient(values, members, usage, mean=True) * g).sum().backward()
    counts = torch.bincount(usage).float()
    assert torch.allclose(members.grad, g[usage] / counts[usage][:, None])


def test_gradient_reaches_the_seb_generator():
    torch.manual_seed(0)
    m = SebModel(8, 4, inter=TINY_INTER).train()
    x = torch.rand(4, 3, 64, 64)
    out = m(x, level=2)
    assert out["k"] == num_sebs(16) and out["reference"].shape == x.shape
    assert out["usage"] == pytest.approx(usage_bits(16, out["k"]))
    loss = LAMBDAS[2] * (out["x_hat"] - x).pow(2).mean() + out["seb"] / x[:, 0].numel() + out["reg_sum"] / x[:, 0].numel()
    loss.backward()
    g = [p.grad for p in m.seb_gen.parameters()]
    assert all(t is not None for t in g) and sum(float(t.abs().sum()) for t in g) > 0
    assert all(p.grad is not None for p in m.ref_gen.parameters())


def test_eq9_is_a_sum_over_the_sets_features_per_pixel():
    """reg_sum = sum_i ||F_i - sg(S_i)||^2 over every element of F (eq. 9); per pixel of the set it
    is c' * 4 / 1024 of the v1 mean (32x32 patches, F_i of c' x 2 x 2); its gradient moves F only."""
    from semlink.semantic.seb.model import divide, seb_clusters

    torch.manual_seed(1)
    m = SebModel(8, 4, inter=TINY_INTER).train()
    x = torch.rand(4, 3, 64, 64)
    out = m(x, level=2, seed=3)
    lv = torch.tensor([2])
    f = m.features(x, lv).float()
    assert out["reg_elements"] == f.numel() == 16 * 4 * 2 * 2
    centres, usage = seb_clusters(f.detach().flatten(1).numpy(), num_sebs(f.shape[0]), 3)
    s = torch.from_numpy(centres).reshape(-1, *f.shape[1:])
    assert float(out["reg_sum"].detach()) == pytest.approx(float((f - s[torch.from_numpy(usage)]).pow(2).sum().detach()), rel=1e-5)
    per_pixel, mean = out["reg_sum"] / x[:, 0].numel(), out["reg_sum"] / out["reg_elements"]
    assert float((per_pixel / mean).detach()) == pytest.approx(4 * 4 / 1024)  # c' = 4 here
    assert divide(x).shape[0] == 16
    out["reg_sum"].backward()
    assert all(p.grad is not None for p in m.seb_gen.parameters())
    assert all(p.grad is None for p in m.ref_gen.parameters())  # sg(S): the reference side gets nothing


def test_reg_option_is_validated(tmp_path):
    from semlink.train.loop import TrainConfig, train

    with pytest.raises(ValueError, match="option reg"):
        train(TrainConfig(lmbda=0.001, steps=1, out=str(tmp_path / "a"), model="seb", options={"reg": "max"}, progress=False))


# ----------------------------------------------------------------------------- set splitting (eq. 1)
def test_set_splitting_j_rule():
    rng = np.random.default_rng(0)
    blobs = np.concatenate([c + rng.normal(0, 0.05, (6, 8)) for c in np.eye(8)[:3] * 3])
    j, labels, inertias = choose_j(blobs)
    assert j == 3 and inertias[0] > inertias[1] > inertias[2]
    assert all(len(set(labels[6 * k: 6 * (k + 1)])) == 1 for k in range(3))
    assert labels[0] == 0  # first image's subset is 0
    assert choose_j(np.ones((5, 8)))[0] == 1
    assert split(blobs, "none").max() == 0 and split(blobs, 2).max() == 1
    with pytest.raises(ValueError, match="split"):
        split(blobs, "auto")


def test_imagenet_projector_groups_scenes_not_colours():
    """Eq. 1 on ImageNet VGG-16 features: three photos, each also colour-swapped (RGB -> BGR) and
    darkened, split into three subsets, one per scene; the projections are unit vectors."""
    from semlink.data import get_dataset
    from semlink.semantic.seb.splitting import PROJECTORS, imagenet_projections, project

    photos = {it.name: it.data[:128, :128] for it in get_dataset("photos", size=128).items}
    images, scene = [], []
    for k, name in enumerate(("astronaut", "coffee", "rocket")):
        im = photos[name]
        for variant in (im, im[..., ::-1], (im * 0.5).astype(np.uint8)):
            images.append(torch.from_numpy(np.array(variant)).permute(2, 0, 1)[None].float() / 255)
            scene.append(k)
    p = imagenet_projections(images)
    assert p.shape == (9, 512) and p.dtype == np.float32
    assert np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-5)
    labels = split(p, 3)
    assert [len(set(labels[np.array(scene) == k])) for k in range(3)] == [1, 1, 1]
    assert len(set(labels.tolist())) == 3
    # the v1 projector (the shipped Seb generator's pooled latents) splits the same images by colour
    from semlink.semantic.seb.codec import load_model

    v1 = split(project("seb", load_model(), images), 3)
    assert any(len(set(v1[np.array(scene) == k])) > 1 for k in range(3))
    assert PROJECTORS == ("imagenet", "seb")
    with pytest.raises(ValueError, match="projector"):
        project("resnet", None, images)


# ----------------------------------------------------------------------------- the set codec
def test_seb_codec_round_trip_and_shared_parts(tiny):
    codec = get_codec("seb", checkpoint=tiny)
    items = _set(3)
    es = codec.encode_set(items, quality=3)
    assert set(es.shared) == {"header", "sebs", "usage"}
    assert all(set(e.parts) == {"motion_z", "motion_y", "residual"} for e in es.items)
    assert es.num_bits == es.shared_bits + sum(e.num_bits for e in es.items)  # shared parts counted once
    hdr = SetHeader.parse(es.shared["header"])
    n_p = 2 * 3
    assert hdr.sizes == ((64, 96),) * 3 and sum(hdr.ks) >= 1
    radices = np.concatenate([np.full(n_p, hdr.ks[j]) for j in hdr.subsets])
    assert len(es.shared["usage"]) == (usage_num_bits(radices) + 7) // 8
    recs = codec.decode_set(es)
    assert [r.data.shape for r in recs] == [x.shape for x in items] and all(r.decoded_ok for r in recs)
    again = codec.decode_set(es)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(recs, again))
    refs = codec.reference_images(items, quality=3)  # Fig. 6(f): the Seb-only representation
    assert [r.shape for r in refs] == [x.shape for x in items] and refs[0].dtype == np.uint8
    # a single image is a set of one (shared parts merged into its parts)
    one = codec.encode(items[0], quality=1)
    assert {"header", "sebs", "usage", "residual"} <= set(one.parts)
    assert codec.decode(one).image.shape == items[0].shape


def test_seb_encoder_and_decoder_agree(tiny):
    m = get_codec("seb", checkpoint=tiny).model()
    ref = torch.rand(1, 3, 64, 64)
    x = torch.from_numpy(_set(1, 64, 64)[0].copy()).permute(2, 0, 1)[None].float() / 255  # 64x64: no padding
    strings, enc_hat = m.inter.compress(ref, x, 1)
    dec_hat, problems = m.inter.decompress(ref, strings, 1)
    assert problems == [] and torch.allclose(enc_hat, dec_hat, atol=1e-5)


def _damage(es: EncodedSet, rng) -> ReceivedSet:
    def hurt(data: bytes) -> ReceivedPart:
        b = bytearray(data)
        kind = rng.integers(4)
        if kind == 0 and b:  # bit flips
            for _ in range(1 + int(rng.integers(8))):
                i = int(rng.integers(len(b)))
                b[i] ^= 1 << int(rng.integers(8))
        elif kind == 1:  # truncation
            b = b[: int(rng.integers(len(b) + 1))]
        elif kind == 2:  # garbage of another length
            b = bytearray(rng.integers(0, 256, int(rng.integers(1, 2 * len(b) + 2)), dtype=np.uint8).tobytes())
        else:  # lost packet: zeros, CRC failed
            return ReceivedPart.lost(len(b))
        return ReceivedPart.intact(bytes(b))

    shared = {k: (hurt(v) if rng.random() < 0.5 else ReceivedPart.intact(v)) for k, v in es.shared.items()}
    items = tuple(Received(e.codec, e.kind, e.shape, {k: (hurt(v) if rng.random() < 0.5 else ReceivedPart.intact(v))
                                                      for k, v in e.parts.items()}) for e in es.items)
    return ReceivedSet(es.codec, shared, items)


def _fuzz(codec, count: int, seed: int):
    items = _set(3)
    es = codec.encode_set(items, quality=2)
    rng = np.random.default_rng(seed)
    bad = 0
    for _ in range(count):
        recs = codec.decode_set(_damage(es, rng))
        assert [r.data.shape for r in recs] == [x.shape for x in items]
        assert all(r.data.dtype == np.uint8 for r in recs)
        bad += sum(not r.decoded_ok for r in recs)
        assert all(r.reason for r in recs if not r.decoded_ok)
    assert bad > 0
    return es


@pytest.mark.parametrize("name", ["seb", "dvc-pair"])
def test_corrupted_sets_never_crash(tiny, name):
    codec = get_codec(name, checkpoint=tiny)
    es = _fuzz(codec, 40, 0)
    lost = ReceivedSet(es.codec, {k: ReceivedPart.lost(len(v)) for k, v in es.shared.items()},
                       tuple(Received(e.codec, e.kind, e.shape, {k: ReceivedPart.lost(len(v)) for k, v in e.parts.items()})
                             for e in es.items))
    recs = codec.decode_set(lost)
    assert all(not r.decoded_ok and "header" in r.reason for r in recs)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["seb", "dvc-pair"])
def test_two_thousand_corrupted_sets(tiny, name):
    _fuzz(get_codec(name, checkpoint=tiny), 2000, 1)


def test_dvc_pair_codec_chain(tiny):
    codec = get_codec("dvc-pair", checkpoint=tiny)
    items = _set(3)
    es = codec.encode_set(items, quality=1)
    assert set(es.items[0].parts) == {"intra_header", "intra_z", "intra_y"}
    assert all(set(e.parts) == {"motion_z", "motion_y", "residual"} for e in es.items[1:])
    recs = codec.decode_set(es)
    assert all(r.decoded_ok for r in recs)
    # the intra image is exactly the hyperprior's decode, at the rate point whose lambda is nearest
    hp = get_codec("hyperprior")
    q = codec.intra_quality(0)
    assert es.items[0].info["intra_quality"] == q
    assert np.array_equal(recs[0].data, hp.decode(hp.encode(items[0], quality=q)).data)
    lams = hp.lambdas()
    for level, lam in enumerate(LAMBDAS):  # nearest in log scale, on CompressAI's lambda scale
        target = math.log(lam / 255**2)
        assert abs(math.log(lams[codec.intra_quality(level)]) - target) == min(abs(math.log(v) - target) for v in lams.values())
    # damage image 1: image 2 (predicted from it) is flagged too
    rx = es.received()
    i1 = rx.items[1]
    hurt = Received(i1.codec, i1.kind, i1.shape, {**i1.packets, "residual": ReceivedPart.lost(len(es.items[1].parts["residual"]))})
    recs = codec.decode_set(ReceivedSet(rx.codec, rx.shared, (rx.items[0], hurt, rx.items[2])))
    assert recs[0].decoded_ok and not recs[1].decoded_ok and "chain damaged at image 1" in recs[2].reason


def _photo_sets(count: int, seed: int = 0, size: int = 128):
    from semlink.data import get_dataset

    photos = [it.data for it in get_dataset("photos")]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        s = []
        for _ in range(4):
            im = photos[int(rng.integers(len(photos)))]
            y, x = int(rng.integers(im.shape[0] - size)), int(rng.integers(im.shape[1] - size))
            s.append(np.ascontiguousarray(im[y: y + size, x: x + size]))
        out.append(s)
    return out


@pytest.mark.parametrize("name", ["seb", "dvc-pair", "hyperprior"])
def test_link_damage_never_decodes_below_concealment(name):
    """Shipped models, sets of 4 unseen photo crops, link-like packet loss in every part: by
    default (on_loss = "conceal") no image is more than 1 dB below mid-grey (seb shows an image's
    Seb reference when only its own parts are lost); on_loss = "decode" gives images far below it."""
    sets, worst = _photo_sets(5), {}
    for mode in ("conceal", "decode"):
        codec, rng, gaps = get_codec(name, on_loss=mode), np.random.default_rng(1), []
        for images in sets:
            if codec.codes_sets:
                es = codec.encode_set(images, quality=2)
                rx = ReceivedSet(es.codec, {k: link_damage(v, rng, 0.1) for k, v in es.shared.items()},
                                 tuple(Received(e.codec, e.kind, e.shape, {k: link_damage(v, rng) for k, v in e.parts.items()})
                                       for e in es.items))
                recs = codec.decode_set(rx)
            else:
                recs = []
                for img in images:
                    e = codec.encode(img, quality=2)
                    recs.append(codec.decode(Received(e.codec, e.kind, e.shape,
                                                      {k: link_damage(v, rng) for k, v in e.parts.items()})))
            assert all(r.reason for r in recs if not r.decoded_ok)
            gaps += [db_over_grey(r.data, img) for r, img in zip(recs, images)]
        worst[mode] = min(gaps)
    assert worst["conceal"] >= -1.0, worst
    assert worst["decode"] < -3.0, worst  # the damage is real: decoding it anyway is far below grey


def test_options_are_validated(tiny):
    for bad in ({"split": "auto"}, {"split": 0}, {"kdiv": 0}, {"projector": "resnet50"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            get_codec("seb", **bad)
    with pytest.raises(ValueError, match="reference"):
        get_codec("dvc-pair", reference="last")
    codec = get_codec("seb", checkpoint=tiny)
    with pytest.raises(ValueError, match="quality"):
        codec.encode_set(_set(2), quality=9)
    with pytest.raises(ValueError, match="quality"):
        codec.encode_set(_set(2), quality=1.5)


# ----------------------------------------------------------------------------- the data and the link
def test_mixed_dataset():
    from semlink.data import get_dataset

    for subset, n in (("mixed", 31), ("strong", 24), ("weak", 7)):
        ds = get_dataset("mixed", subset=subset, frames=8)
        assert len(ds) == n
    ds = get_dataset("mixed", subset="strong", frames=2, frame_step=3, side=64)
    assert [it.name for it in ds][:2] == ["bikes/f000", "bikes/f003"] and ds[0].group == "bikes"
    assert ds[0].data.shape == (64, 64, 3)
    with pytest.raises(ValueError, match="subset"):
        get_dataset("mixed", subset="uvg")
    with pytest.raises(ValueError, match="side"):
        get_dataset("mixed", side=100)


def test_set_codec_over_phy_link_with_cbr(tmp_path):
    """link.cbr with a set codec: the largest rate point whose parts fit the RE budget is sent."""
    from semlink.sweep.runner import run_sweep
    from semlink.sweep.spec import load_spec

    toy = str((__import__("pathlib").Path(__file__).parent / "toy_codecs.py").resolve())
    spec = tmp_path / "s.toml"
    spec.write_text(f"""
name = "t"
out = "{tmp_path / 'out'}"
plugins = ["{toy}"]
snr_db = [20]
[dataset]
name = "photos"
items = ["astronaut", "chelsea"]
options = {{ size = 64, crop = 64 }}
set_size = 2
[[codec]]
name = "toy-set"
[link]
mode = "phy"
modulation = "qpsk"
code = "80211n-648-1/2"
cbr = 0.5
""")
    s = load_spec(str(spec))
    rows = run_sweep(s, progress=False)
    assert len(rows) == 2 and all(r["rate"] == "quality=1" and r["fits_capacity"] for r in rows)
    assert all(r["cbr"] <= 0.5 + 1e-9 for r in rows)


# ----------------------------------------------------------------------------- training task
def test_training_task_runs_and_exports(tmp_path):
    from PIL import Image

    from semlink.semantic.seb.checkpoint import load_seb
    from semlink.train.loop import TrainConfig, train

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(4):
        Image.fromarray(_set(1, 128, 128, seed=i)[0]).save(imgs / f"{i}.png")
    opts = {"n": 8, "c": 4, "inter_n": 8, "m_motion": 8, "m_residual": 8, "set_size": 4, "pairs": 2,
            "val_set_size": 2}
    cfg = TrainConfig(lmbda=1.0, steps=2, out=str(tmp_path / "seb"), model="seb", batch=4, crop=64, data=str(imgs),
                      val_fraction=0.25, val_every=2, progress=False, threads=1, options=opts)
    train(cfg)
    m = load_seb(tmp_path / "seb" / "seb.pt")
    assert m.config()["c"] == 4 and m.inter.config()["m_residual"] == 8
    head = (tmp_path / "seb" / "log.csv").read_text().splitlines()[0].split(",")
    assert head[:4] == ["step", "loss", "bpp", "psnr"] and "seb_bpp" in head and "dvc_bpp" in head
    assert (tmp_path / "seb" / "val.csv").exists()
    # the exported checkpoint codes a set
    recs = get_codec("seb", checkpoint=str(tmp_path / "seb" / "seb.pt")).decode_set(
        get_codec("seb", checkpoint=str(tmp_path / "seb" / "seb.pt")).encode_set(_set(2, 64, 64), quality=6))
    assert all(r.decoded_ok for r in recs)
    with pytest.raises(ValueError, match="unknown option"):
        train(TrainConfig(lmbda=1.0, steps=1, out=str(tmp_path / "x"), model="seb", crop=64, data=str(imgs),
                          progress=False, options={"k": 3}))
    with pytest.raises(ValueError, match="residual_init"):
        train(TrainConfig(lmbda=1.0, steps=1, out=str(tmp_path / "y"), model="seb", crop=64, data=str(imgs),
                          progress=False, options={**opts, "residual_init": "hyperprior"}))


def test_gain_levels_start_spread():
    """Rate levels start apart: gains sqrt(lambda / geometric mean), inverse gains their reciprocals."""
    from semlink.semantic.seb.model import gain_spread

    f = gain_spread()
    assert f.shape == (len(LAMBDAS), 1)
    assert float(f[-1] / f[0]) == pytest.approx(math.sqrt(LAMBDAS[-1] / LAMBDAS[0]))
    assert float(torch.log(f).mean()) == pytest.approx(0.0, abs=1e-6)
    m = SebModel(8, 4, inter=TINY_INTER)
    for unit in (m.seb_gain, m.inter.motion.gain, m.inter.residual.gain):
        assert torch.allclose(unit.gain, f.expand_as(unit.gain)) and torch.allclose(unit.gain * unit.inv, torch.ones_like(unit.inv))


def test_shipped_seb_reproduces_its_manifest_figure():
    """The zoo's seb (sha256-verified) codes the mixed set at the manifest's test point with the
    manifest's bpp and PSNR (every bit counted), and dvc-pair's entry loads the same file's inter coder."""
    from semlink.semantic.seb.dvc_pair import load_inter
    from semlink.data import get_dataset
    from semlink.simulator import metrics
    from semlink.zoo.checkpoints import load_checkpoint

    ck = load_checkpoint("seb")
    entry = ck["entry"]
    point = entry["test_rate_points"]["seb"]["q3 (lambda 256)"]
    items = [it.data for it in get_dataset("mixed")]
    codec = get_codec("seb")
    es = codec.encode_set(items, quality=3)
    recs = codec.decode_set(es)
    assert all(r.decoded_ok for r in recs)
    assert es.num_bits / sum(x.shape[0] * x.shape[1] for x in items) == pytest.approx(point["bpp"], abs=2e-4)
    assert np.mean([metrics.psnr(a, r.data) for a, r in zip(items, recs)]) == pytest.approx(point["psnr_db"], abs=0.01)
    assert load_checkpoint("dvc-pair")["entry"]["file"] == entry["file"]
    assert load_inter() is not None


# ----------------------------------------------------------------------------- flow pre-training
def _moving_clip(n=12, h=72, w=88, step=2, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w + step * n]
    pat = np.stack([128 + 100 * np.sin(xx / 5.0), 128 + 90 * np.cos(yy / 4.0), (3 * xx + yy) % 256], -1)
    frames = [pat[:, step * k: step * k + w] for k in range(n)]
    return np.clip(np.stack(frames) + rng.normal(0, 3, (n, h, w, 3)), 0, 255).astype(np.uint8)


def test_flow_pretraining_loss_prefers_the_true_motion():
    """The photometric loss of seb-flow is lower for the true motion than for none: a net that
    returns the true flow of a 2-pixel pan beats the plain reference in PSNR."""
    from semlink.semantic.seb.flow_task import PairSampler, SebFlowTask
    from semlink.train.loop import TrainConfig

    clip = _moving_clip()
    s = PairSampler([clip], 64, 3, 0, 1)
    b = s.batch(5)
    assert b.shape == (3, 6, 64, 64) and b.dtype == np.float32 and np.array_equal(b, s.batch(5))
    target = torch.from_numpy(clip[1, :64, 8:72].astype(np.float32) / 255).permute(2, 0, 1)[None]
    ref = torch.from_numpy(clip[0, :64, 8:72].astype(np.float32) / 255).permute(2, 0, 1)[None]
    x = torch.cat([target, ref], 1)

    class Const(torch.nn.Module):
        def __init__(self, dx):
            super().__init__()
            self.dx = dx

        def forward(self, t, r):
            f = torch.zeros(t.shape[0], 2, *t.shape[-2:])
            f[:, 0] = self.dx
            return f

    task, cfg = SebFlowTask(), TrainConfig(lmbda=1.0, steps=1, out="unused", model="seb-flow", progress=False)
    good = task.evaluate(Const(2.0), x, cfg)
    none = task.evaluate(Const(0.0), x, cfg)
    wrong = task.evaluate(Const(-2.0), x, cfg)
    assert good["gain_db"] > 6 and none["gain_db"] == pytest.approx(0.0, abs=1e-3)
    assert good["photo"] < none["photo"] < wrong["photo"]


def test_flow_pretraining_runs_exports_and_initialises_seb(tmp_path):
    import av

    from semlink.semantic.seb.flow_task import load_flow_into
    from semlink.train.loop import TrainConfig, train
    from semlink.zoo.checkpoints import CheckpointError

    vids = tmp_path / "videos"
    vids.mkdir()
    frames = _moving_clip(16, 80, 96)
    with av.open(str(vids / "a.avi"), "w") as c:
        st = c.add_stream("mpeg4", rate=25)
        st.width, st.height, st.pix_fmt = 96, 80, "yuv420p"
        for f in frames:
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    train(TrainConfig(lmbda=0.0, steps=2, out=str(tmp_path / "flow"), model="seb-flow", batch=2, crop=64,
                      val_fraction=0.25, val_every=2, progress=False, threads=1, options={"videos": str(vids)}))
    val = (tmp_path / "flow" / "val.csv").read_text().splitlines()
    assert "gain_db" in val[0].split(",") and len(val) == 2
    m = SebModel(8, 4, inter=TINY_INTER)
    assert load_flow_into(m.inter.flow, tmp_path / "flow" / "seb-flow.pt")["flow_init"]
    from semlink.nn.flow import SpyNetLite

    with pytest.raises(CheckpointError, match="flow network"):
        load_flow_into(SpyNetLite(3), tmp_path / "flow" / "seb-flow.pt")
    # --init from a seb run with flow_init: the pre-trained flow replaces the initial run's flow
    from semlink.semantic.seb.train_task import SebTask
    from semlink.zoo.checkpoints import read_checkpoint

    opts = {"n": 8, "c": 4, "inter_n": 8, "m_motion": 8, "m_residual": 8}
    net0 = SebTask().build(TrainConfig(lmbda=1.0, steps=1, out="unused", model="seb", progress=False, options=opts))
    torch.save({"model": net0.state_dict(), "step": 7}, tmp_path / "train_state.pt")
    task = SebTask()
    flow_file = str(tmp_path / "flow" / "seb-flow.pt")
    net1 = task.build(TrainConfig(lmbda=1.0, steps=1, out="unused", model="seb", progress=False,
                                  options={**opts, "flow_init": flow_file}))
    facts = task.init_from(net1, str(tmp_path / "train_state.pt"))
    assert facts["init_step"] == 7 and facts["flow_init"] == flow_file
    flow_sd = read_checkpoint(flow_file)["state_dict"]
    assert all(torch.equal(v, flow_sd[k].to(v.dtype)) for k, v in net1.inter.flow.state_dict().items())
    assert torch.equal(net1.inter.residual.state_dict()["g_a.0.weight"], net0.inter.residual.state_dict()["g_a.0.weight"])
    with pytest.raises(ValueError, match="max_gap"):
        train(TrainConfig(lmbda=0.0, steps=1, out=str(tmp_path / "x"), model="seb-flow", crop=64, progress=False,
                          options={"videos": str(vids), "max_gap": 0}))


def test_flow_study_measures_gain_over_the_plain_reference():
    from semlink.semantic.seb.flow_study import dis_predict, draw, measure, summary

    clips = {f"c{i}": _moving_clip(5, 64, 80, seed=i) for i in range(3)}
    df = measure({"plain": lambda r, t: r, "OpenCV DIS": dis_predict}, clips, gaps=(1, 2))
    assert len(df) == 2 * 3 * (4 + 3)  # predictors x clips x pairs
    plain = df[df.predictor == "plain"]
    assert np.allclose(plain.gain_db, 0.0) and np.allclose(plain.psnr_pred, plain.psnr_ref)
    assert (df[df.predictor == "OpenCV DIS"].gain_db > 3).all()  # a true 2-px pan is found
    s = summary(df)
    assert set(s.predictor) == {"plain", "OpenCV DIS"} and (s.n == 3).all()  # clips are the units
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert draw(s, ax) is ax and len(ax.patches) == 2 * 2  # a bar per predictor and gap
    plt.close(fig)
