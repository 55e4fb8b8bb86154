"""The learned ``hyperprior`` codec, its zoo checkpoints and the training CLI (tiny models)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from semlink.codecs import get_codec, list_codecs
from semlink.codecs.hyperprior import pack_header, unpack_header
from semlink.entropy import Tables, rans_decode, tables_digest
from semlink.nn.hyperprior import build_model, export_checkpoint, model_from_checkpoint
from semlink.zoo.checkpoints import CheckpointError, load_checkpoint, manifest_entry, read_checkpoint


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A two-point zoo of a random tiny ScaleHyperprior: q2 = q1 with 8x larger latents (more bits)."""
    d = tmp_path_factory.mktemp("zoo")
    torch.manual_seed(0)
    model = build_model(16, 24)
    export_checkpoint(model, d / "q1.pt", quality=1)
    with torch.no_grad():
        model.g_a[6].weight.mul_(8.0)
        model.g_s[0].weight.div_(8.0)
    export_checkpoint(model, d / "q2.pt", quality=2)
    entries = [manifest_entry(d / f"q{q}.pt", name=f"tiny-q{q}", codec="hyperprior", quality=q) for q in (1, 2)]
    (d / "manifest.json").write_text(json.dumps({"models": entries}))
    return d


@pytest.fixture(scope="module")
def codec(zoo):
    return get_codec("hyperprior", manifest=str(zoo))


def _image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], axis=-1)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def test_registered_and_an_empty_zoo_is_a_clear_error(tmp_path):
    assert "hyperprior" in list_codecs("image")
    (tmp_path / "manifest.json").write_text('{"models": []}')
    c = get_codec("hyperprior", manifest=str(tmp_path))
    assert c.qualities() == []
    with pytest.raises(ValueError, match="lists no hyperprior checkpoint.*semlink train hyperprior"):
        c.encode(_image(64, 64), quality=1)


def test_round_trip_shape_dtype_and_bit_accounting(codec):
    img = _image(64, 128)
    assert codec.qualities() == [1, 2]
    enc = codec.encode(img, quality=2)
    assert set(enc.parts) == {"header", "z", "y"}
    assert enc.num_bits == 8 * sum(len(b) for b in enc.parts.values())
    assert enc.info["quality"] == 2 and enc.info["bpp"] == enc.num_bits / (64 * 128)
    h, w, q, lz, ly = unpack_header(enc.parts["header"])
    assert (h, w, q, lz, ly) == (64, 128, 2, len(enc.parts["z"]), len(enc.parts["y"]))
    rec = codec.decode(enc)
    assert rec.decoded_ok and rec.reason == ""
    assert rec.image.shape == img.shape and rec.image.dtype == np.uint8


def _assert_same_as_compressai(codec, quality: int, img, enc, rec):
    """The codec's strings and reconstruction equal CompressAI's compress()/decompress(); returns x."""
    lm = codec.model(quality)
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        out = lm.cpu.compress(x)
        ref = lm.cpu.decompress(out["strings"], out["shape"])["x_hat"]
    assert out["strings"][1][0] == enc.parts["z"] and out["strings"][0][0] == enc.parts["y"]
    ref8 = (ref[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(ref8, rec.image)
    return x


def test_cpu_determinism_and_bit_exact_with_compressai(codec):
    img = _image(64, 64, seed=3)
    a, b = codec.encode(img, quality=2), codec.encode(img, quality=2)
    assert a.parts == b.parts
    ra, rb = codec.decode(a), codec.decode(b)
    assert np.array_equal(ra.image, rb.image)
    # same bytes and the same reconstruction as CompressAI's own compress()/decompress()
    _assert_same_as_compressai(codec, 2, img, a, ra)


def test_odd_sizes_are_padded_and_cropped_back(codec):
    for h, w in ((37, 50), (65, 129), (1, 70)):
        img = _image(h, w, seed=h)
        rec = codec.decode(codec.encode(img, quality=2))
        assert rec.decoded_ok, rec.reason
        assert rec.image.shape == (h, w, 3) and rec.image.dtype == np.uint8
        assert unpack_header(codec.encode(img, quality=2).parts["header"])[:2] == (h, w)


def test_bpp_selects_the_highest_point_within_target(codec):
    img = _image(128, 128, seed=1)
    bpp = {q: codec.encode(img, quality=q).info["bpp"] for q in codec.qualities()}
    assert bpp[1] < bpp[2]
    hi = codec.encode(img, bpp=bpp[2])
    assert hi.info["quality"] == 2 and hi.info["target_met"]
    mid = codec.encode(img, bpp=(bpp[1] + bpp[2]) / 2)
    assert mid.info["quality"] == 1 and mid.info["target_met"] and mid.info["bpp"] <= (bpp[1] + bpp[2]) / 2
    low = codec.encode(img, bpp=bpp[1] / 2)
    assert low.info["quality"] == 1 and low.info["target_met"] is False
    with pytest.raises(ValueError, match="rate points"):
        codec.encode(img, quality=3)


def test_corrupted_streams_never_raise(codec):
    img = _image(64, 128, seed=5)
    enc = codec.encode(img, quality=2)
    rng = np.random.default_rng(1234)
    outcomes = []
    for trial in range(120):
        parts = {k: bytearray(v) for k, v in enc.parts.items()}
        name = ("header", "z", "y")[trial % 3]
        if trial % 4 == 3:  # truncation (possibly to nothing)
            parts[name] = parts[name][: int(rng.integers(0, len(parts[name]) + 1))]
        else:  # 1..8 bit flips
            for _ in range(int(rng.integers(1, 9))):
                if len(parts[name]):
                    i = int(rng.integers(0, len(parts[name])))
                    parts[name][i] ^= 1 << int(rng.integers(0, 8))
        rec = codec.decode(enc.with_received({k: bytes(v) for k, v in parts.items()}))
        assert rec.image.shape == img.shape and rec.image.dtype == np.uint8
        assert rec.decoded_ok or rec.reason
        outcomes.append(rec.decoded_ok)
    # corruption is detected in (nearly) all cases: at most 5 % of the corrupted streams pass
    assert sum(outcomes) <= 0.05 * len(outcomes), f"{sum(outcomes)} of {len(outcomes)} corrupted streams decoded ok"
    # missing parts and garbage
    assert not codec.decode(enc.with_received({})).decoded_ok
    junk = {k: bytes(rng.integers(0, 256, len(v), dtype=np.uint8)) for k, v in enc.parts.items()}
    assert codec.decode(enc.with_received(junk)).image.shape == img.shape
    # a header announcing another size is refused, not decoded at that size
    bad = dict(enc.parts, header=pack_header(4096, 4096, 2, len(enc.parts["z"]), len(enc.parts["y"])))
    rec = codec.decode(enc.with_received(bad))
    assert not rec.decoded_ok and "announces" in rec.reason and (rec.image == 128).all()


def test_rans_decoder_is_bounds_checked():
    # a valid one-symbol table; an empty / short / all-ones string must not crash
    cdfs = np.array([[0, 30000, 65000, 65536]], dtype=np.int32)
    sizes, offsets = np.array([4], dtype=np.int32), np.array([-1], dtype=np.int64)
    for data in (b"", b"\x01", b"\xff" * 7, b"\xff" * 4096):
        sym, problem = rans_decode(data, np.zeros(5000, dtype=np.int32), Tables(cdfs, sizes, offsets))
        assert sym.shape == (5000,) and problem


def test_checkpoint_errors(zoo, tmp_path):
    ok = load_checkpoint("tiny-q1", zoo)
    assert ok["config"] == {"N": 16, "M": 24}
    sd = ok["state_dict"]
    assert sd["g_a.0.weight"].dtype == torch.float32
    # the entropy-coder tables are not stored: the loader computes them and checks their digest
    assert not any(k.endswith("_quantized_cdf") for k in sd) and len(ok["meta"]["tables_sha256"]) == 16
    assert tables_digest(model_from_checkpoint(ok)) == ok["meta"]["tables_sha256"]
    raw = torch.load(zoo / "q1.pt", weights_only=True)["state_dict"]
    assert raw["g_a.0.weight"].dtype == torch.float16  # stored half precision
    other = dict(ok, meta={**ok["meta"], "tables_sha256": "0" * 16})
    with pytest.raises(CheckpointError, match="entropy-coder tables computed on this machine"):
        model_from_checkpoint(other)
    # corrupt copy: sha256 mismatch names file and expected digest
    bad = tmp_path / "bad"
    shutil.copytree(zoo, bad)
    entry = json.loads((bad / "manifest.json").read_text())["models"][0]
    with open(bad / "q1.pt", "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    with pytest.raises(CheckpointError, match=f"q1.pt.*expected {entry['sha256']}"):
        load_checkpoint("tiny-q1", bad)
    (bad / "q1.pt").unlink()
    with pytest.raises(CheckpointError, match=f"q1.pt is missing.*{entry['sha256']}"):
        load_checkpoint("tiny-q1", bad)
    c = get_codec("hyperprior", manifest=str(bad))
    with pytest.raises(CheckpointError, match="missing"):
        c.encode(_image(64, 64), quality=1)
    # decoding needs the file too: a missing checkpoint is a user-fixable error, raised (not concealed)
    enc = get_codec("hyperprior", manifest=str(zoo)).encode(_image(64, 64), quality=1)
    with pytest.raises(CheckpointError, match="missing"):
        c.decode(enc)
    with pytest.raises(CheckpointError, match="no checkpoint named"):
        load_checkpoint("nope", zoo)
    with pytest.raises(CheckpointError, match="not a semlink checkpoint"):
        torch.save({"x": torch.zeros(1)}, tmp_path / "other.pt")
        read_checkpoint(tmp_path / "other.pt")


def test_train_cli_runs_and_resumes(tmp_path, monkeypatch):
    import semlink.cli
    from semlink.cli import main

    if "semlink.train.cli" not in semlink.cli.SUBCOMMAND_MODULES:
        monkeypatch.setattr(semlink.cli, "SUBCOMMAND_MODULES", semlink.cli.SUBCOMMAND_MODULES + ("semlink.train.cli",))
    out = tmp_path / "run"
    common = ["train", "hyperprior", "--lambda", "0.01", "--out", str(out), "--n", "16", "--m", "24",
              "--batch", "2", "--crop", "64", "--log-every", "1", "--no-progress", "--threads", "1", "--quality", "3"]
    assert main(common + ["--steps", "3"]) == 0
    state = torch.load(out / "train_state.pt", weights_only=True)
    assert state["step"] == 3
    assert (out / "hyperprior.pt").is_file()
    assert main(common + ["--steps", "3"]) == 2  # refuses to overwrite without --resume
    with open(out / "log.csv", "a") as f:  # a line logged after the last save (interrupted run)
        f.write("4,1,1,1,1,1,1\n")
    assert main(common + ["--steps", "5", "--resume"]) == 0
    assert torch.load(out / "train_state.pt", weights_only=True)["step"] == 5
    steps = [int(line.split(",")[0]) for line in (out / "log.csv").read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4, 5]
    # the exported file is a usable codec checkpoint at the stored rate point
    c = get_codec("hyperprior", checkpoint=str(out / "hyperprior.pt"))
    assert c.qualities() == [3]
    rec = c.decode(c.encode(_image(40, 70), quality=3))
    assert rec.decoded_ok and rec.image.shape == (40, 70, 3)
    assert main(common + ["--steps", "5", "--resume", "--data", str(tmp_path / "nowhere")]) == 2


def test_mean_scale_checkpoint_is_bit_exact_with_compressai(tmp_path):
    """MeanScaleHyperprior: same strings and reconstruction as CompressAI's compress()/decompress()."""
    torch.manual_seed(1)
    model = build_model(16, 24, "MeanScaleHyperprior")
    with torch.no_grad():  # non-zero means, so the mean path matters
        model.h_s[-1].bias.normal_(0, 2.0)
        model.h_a[-1].weight.mul_(1000.0)  # a hyper-latent with many non-zero symbols: h_a(y), not h_a(|y|)
    export_checkpoint(model, tmp_path / "ms.pt", quality=4)
    c = get_codec("hyperprior", checkpoint=str(tmp_path / "ms.pt"))
    img = _image(64, 128, seed=7)
    enc = c.encode(img, quality=4)
    assert enc.info["arch"] == "MeanScaleHyperprior"
    rec = c.decode(enc)
    assert rec.decoded_ok, rec.reason
    x = _assert_same_as_compressai(c, 4, img, enc, rec)
    with torch.no_grad():
        z = model.eval().h_a(model.g_a(x))
    assert (torch.round(z - model.entropy_bottleneck._get_medians()) != 0).float().mean() > 0.3
    with pytest.raises(ValueError, match="arch must be one of"):
        build_model(16, 24, "Cheng2020")


def test_train_cli_fine_tunes_from_another_run(tmp_path, monkeypatch):
    import semlink.cli
    from semlink.cli import main

    if "semlink.train.cli" not in semlink.cli.SUBCOMMAND_MODULES:
        monkeypatch.setattr(semlink.cli, "SUBCOMMAND_MODULES", semlink.cli.SUBCOMMAND_MODULES + ("semlink.train.cli",))
    common = ["train", "hyperprior", "--n", "16", "--m", "24", "--batch", "2", "--crop", "64", "--no-progress",
              "--threads", "1", "--arch", "MeanScaleHyperprior", "--steps", "2"]
    assert main(common + ["--lambda", "0.01", "--out", str(tmp_path / "base")]) == 0
    assert main(common + ["--lambda", "0.05", "--out", str(tmp_path / "ft"), "--init", str(tmp_path / "base")]) == 0
    ft = read_checkpoint(tmp_path / "ft" / "hyperprior.pt")
    assert ft["arch"] == "MeanScaleHyperprior"
    assert ft["meta"]["init_lambda"] == 0.01 and ft["meta"]["init_step"] == 2 and ft["meta"]["lambda"] == 0.05
    # an init of another shape is refused with the file named
    assert main(["train", "hyperprior", "--n", "16", "--m", "32", "--lambda", "0.05", "--steps", "1", "--no-progress",
                 "--crop", "64", "--batch", "1", "--arch", "MeanScaleHyperprior", "--out", str(tmp_path / "bad"),
                 "--init", str(tmp_path / "base")]) == 2
