"""The shipped model zoo: manifest facts, file limits, digests, and the codec on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from semlink.codecs import get_codec
from semlink.data import get_dataset
from semlink.simulator import metrics
from semlink.zoo.checkpoints import load_checkpoint, read_manifest, sha256_file

REQUIRED = ("name", "codec", "file", "sha256", "arch", "training_data", "steps", "final_train_loss", "test_bpp",
            "test_psnr_db", "test_ms_ssim")


@pytest.fixture(scope="module")
def entries():
    models, root = read_manifest()
    return [m for m in models if m["codec"] == "hyperprior"], root


def rate_points(models) -> list[dict]:
    """One dict per shipped rate point (quality, lambda, test bpp / PSNR), low to high rate: a
    variable-rate file lists its levels (``qualities``, ``lambdas``, ``test_rate_points``), a
    single-rate file is one point."""
    out = []
    for m in models:
        if "qualities" in m:
            for q, lam in zip(m["qualities"], m["lambdas"]):
                t = m["test_rate_points"][f"q{q}"]
                out.append({"quality": q, "lambda": lam, "bpp": t["bpp"], "psnr_db": t["psnr_db"]})
        else:
            out.append({"quality": m["quality"], "lambda": m["lambda"], "bpp": m["test_bpp"], "psnr_db": m["test_psnr_db"]})
    return sorted(out, key=lambda p: p["quality"])


def test_manifest_lists_at_least_four_rate_points_within_size_limits(entries):
    models, root = entries
    for m in models:
        missing = [k for k in REQUIRED if k not in m]
        assert not missing, f"{m['name']}: missing {missing}"
        size = (root / m["file"]).stat().st_size
        assert size < 16 * 2**20, f"{m['file']}: {size} bytes"
        assert sha256_file(root / m["file"]) == m["sha256"]
    assert sum((root / m["file"]).stat().st_size for m in models) < 60 * 2**20
    points = rate_points(models)
    assert len(points) >= 4
    q = [p["quality"] for p in points]
    assert len(set(q)) == len(q)
    lam = [p["lambda"] for p in points]
    assert lam == sorted(lam)  # higher quality id = higher lambda = higher rate
    bpp = [p["bpp"] for p in points]
    assert bpp == sorted(bpp) and bpp[0] < 0.2 and bpp[-1] > 1.0  # spans about 0.1 to 1 bpp (the training issue)


def test_checkpoints_load_verified(entries):
    models, _ = entries
    for m in models:
        ckpt = load_checkpoint(m["name"])
        assert ckpt["arch"] == m["arch"] and ckpt["config"] == m["config"]


def test_shipped_codec_rate_points_on_a_photo(entries):
    models, _ = entries
    codec = get_codec("hyperprior")
    assert codec.qualities() == [p["quality"] for p in rate_points(models)]
    assert list(codec.lambdas().values()) == [p["lambda"] for p in rate_points(models)]
    x = get_dataset("photos", max_items=1).items[0].data  # astronaut
    bpp, psnr = [], []
    for q in codec.qualities():
        enc = codec.encode(x, quality=q)
        rec = codec.decode(enc)
        assert rec.decoded_ok, rec.reason
        assert enc.num_bits == 8 * sum(len(p) for p in enc.parts.values())
        assert codec.encode(x, quality=q).parts == enc.parts  # CPU -> CPU deterministic
        bpp.append(enc.num_bits / (x.shape[0] * x.shape[1]))
        psnr.append(metrics.psnr(x, rec.image))
    assert np.all(np.diff(bpp) > 0) and np.all(np.diff(psnr) > 0)
    mid = codec.encode(x, bpp=(bpp[1] + bpp[2]) / 2)
    assert mid.info["quality"] == codec.qualities()[1] and mid.info["target_met"]


def test_manifest_test_figures_are_reproducible(entries):
    """The lowest point's test bpp / PSNR in the manifest are what the codec gives today."""
    models, _ = entries
    p = rate_points(models)[0]
    codec = get_codec("hyperprior")
    bpp, psnr = [], []
    for item in get_dataset("photos").items:
        x = item.data
        enc = codec.encode(x, quality=p["quality"])
        bpp.append(enc.num_bits / (x.shape[0] * x.shape[1]))
        psnr.append(metrics.psnr(x, codec.decode(enc).image))
    assert np.mean(bpp) == pytest.approx(p["bpp"], abs=1e-3)
    assert np.mean(psnr) == pytest.approx(p["psnr_db"], abs=1e-2)


@pytest.mark.parametrize("trials", [pytest.param(300, id="300"), pytest.param(3000, id="3000", marks=pytest.mark.slow)])
def test_shipped_model_survives_damage(trials):
    """Damaged header / z / y parts (bit flips, bit errors, truncation, garbage, empty) never raise."""
    import dataclasses

    from test_codecs_corruption import damage

    codec = get_codec("hyperprior")
    x = np.ascontiguousarray(get_dataset("photos", size=96, max_items=1).items[0].data[:, :80])
    enc = codec.encode(x, quality=codec.qualities()[1])
    rng = np.random.default_rng(11)
    failed = 0
    for i in range(trials):
        part = ("header", "z", "y")[i % 3]
        parts = dict(enc.parts, **{part: damage(enc.parts[part], rng, (i // 3) % 6)})
        rec = codec.decode(dataclasses.replace(enc, parts=parts))
        assert rec.image.shape == x.shape and rec.image.dtype == np.uint8
        assert rec.decoded_ok or rec.reason
        failed += not rec.decoded_ok
    assert failed >= trials // 3


def test_loading_the_codecs_never_imports_a_trainer():
    """Each semantic codec loads its shipped networks through its checkpoint.py, never its train_task."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from semlink.codecs import get_codec\n"
            "get_codec('gan-c2f')._models(); get_codec('seb').model(); get_codec('dvc-pair').inter()\n"
            "get_codec('vqdeepvsc')._models(); get_codec('hyperprior').qualities()\n"
            "print(sorted(m for m in sys.modules if m.startswith('semlink.train') or m.endswith(('train_task', 'interp_task'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
