"""Metrics against reference implementations (scikit-image, FFmpeg's psnr filter, pytorch-msssim)."""

from __future__ import annotations

import math
import re
import socket
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_msssim import ms_ssim as ref_ms_ssim
from skimage.metrics import peak_signal_noise_ratio

from semlink.codecs import get_codec
from semlink.codecs.ffmpeg_io import ffmpeg_exe
from semlink.data import get_dataset
from semlink.simulator import metrics


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    ref = get_dataset("photos", max_items=2).items[1].data  # chelsea 300x451
    codec = get_codec("jpeg")
    return ref, codec.decode(codec.encode(ref, quality=20)).image


def test_psnr_matches_scikit_image(pair) -> None:
    ref, rec = pair
    assert metrics.psnr(ref, rec) == pytest.approx(peak_signal_noise_ratio(ref, rec, data_range=255), abs=1e-9)


def test_psnr_identical_is_inf_and_shapes_checked(pair) -> None:
    ref, _ = pair
    assert metrics.psnr(ref, ref) == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.psnr(ref, ref[:10])


def test_psnr_matches_ffmpeg_psnr_filter(pair, tmp_path) -> None:
    ref, rec = pair
    Image.fromarray(ref).save(tmp_path / "a.png")
    Image.fromarray(rec).save(tmp_path / "b.png")
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(tmp_path / "a.png"), "-i", str(tmp_path / "b.png"),
         "-lavfi", "[0:v]format=rgb24[a];[1:v]format=rgb24[b];[a][b]psnr", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stderr
    # rgb24 input: FFmpeg's "average" is the PSNR of the MSE averaged over the R, G, B planes.
    average = float(re.search(r"average:([0-9.]+)", out).group(1))
    assert metrics.psnr(ref, rec) == pytest.approx(average, abs=0.01)


def test_psnr_per_frame(pair) -> None:
    ref, rec = pair
    clip_ref, clip_rec = np.stack([ref, ref]), np.stack([rec, ref])
    per = metrics.psnr_per_frame(clip_ref, clip_rec)
    assert per[0] == pytest.approx(metrics.psnr(ref, rec)) and per[1] == math.inf


def test_ms_ssim_matches_pytorch_msssim(pair) -> None:
    ref, rec = pair
    t = lambda x: torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    expected = float(ref_ms_ssim(t(ref), t(rec), data_range=255))
    assert metrics.ms_ssim(ref, rec) == pytest.approx(expected, abs=1e-6)
    assert metrics.ms_ssim(ref, ref) == pytest.approx(1.0, abs=1e-6)


def test_ms_ssim_small_image_policy(pair) -> None:
    ref, rec = pair
    assert metrics.ms_ssim_win_size(161, 400) == 11
    assert metrics.ms_ssim_win_size(144, 176) == 9  # QCIF: window shrinks
    small = metrics.ms_ssim(ref[:100, :100], rec[:100, :100])
    assert 0 < small <= 1
    with pytest.raises(ValueError, match="160"):
        metrics.ms_ssim(ref[:100, :100], rec[:100, :100], win_size=11)
    with pytest.raises(ValueError, match="32 px"):
        metrics.ms_ssim(ref[:32, :100], rec[:32, :100])


def test_ms_ssim_per_frame(pair) -> None:
    ref, rec = pair
    per = metrics.ms_ssim_per_frame(np.stack([ref, ref]), np.stack([rec, ref]))
    assert per[0] == pytest.approx(metrics.ms_ssim(ref, rec), abs=1e-6) and per[1] == pytest.approx(1.0, abs=1e-6)


def test_rate_figures() -> None:
    assert metrics.bpp(3000, 100, 30) == pytest.approx(1.0)
    assert metrics.cbr(4500, 100, 30) == pytest.approx(0.5)
    assert metrics.bcr(3 * 64 * 64 * 8 * 10 / 100, (10, 64, 64, 3)) == pytest.approx(0.01)
    assert metrics.bcr(24, (1, 1, 3)) == pytest.approx(1.0)


def test_perceptual_metrics_are_named_and_built_offline(monkeypatch) -> None:
    """'auto' is ST-LPIPS whatever is installed; LPIPS (Alex, VGG) and DISTS are built from the
    offline ImageNet trunks; nothing touches the network."""

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    metric = metrics.perceptual_metric("auto")
    assert metric.name == "st_lpips"
    assert metrics.lpips_available()
    ref = get_dataset("photos", size=128, crop=128, max_items=1).items[0].data
    jpeg = get_codec("jpeg")
    low_rec, high_rec = (jpeg.decode(jpeg.encode(ref, quality=q)).image for q in (5, 90))
    for name in ("st_lpips", "lpips", "lpips_vgg", "dists"):
        m = metrics.build_metric(name, "fp32")
        assert m.name == name and m.perceptual and not m.higher_is_better
        low, high = m(ref, low_rec), m(ref, high_rec)
        assert m(ref, ref) == pytest.approx(0.0, abs=1e-5), name
        assert low > 0.05 and low > 2 * high > 0, (name, low, high)
    with pytest.raises(ValueError, match="perceptual metric 'lpips_squeeze' is unknown"):
        metrics.perceptual_metric("lpips_squeeze")


def test_lpips_equals_the_lpips_package_with_the_same_weights() -> None:
    """semlink's LPIPS path (cached reference features, bf16 option) equals the lpips package's own
    forward() with the same offline ImageNet AlexNet trunk (fp32)."""
    from semlink.nn.imagenet import lpips_network

    pkg = lpips_network("alex")
    ours = metrics.build_metric("lpips", "fp32")
    for it in get_dataset("photos", size=160, crop=160, max_items=3):
        x = it.data
        rec = np.clip(x.astype(np.int16) + np.random.default_rng(0).integers(-20, 21, x.shape), 0, 255).astype(np.uint8)

        def t(a):
            return torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1

        with torch.no_grad():
            want = float(pkg(t(x), t(rec)))
        assert ours(x, rec) == pytest.approx(want, abs=5e-5)


def test_a_plugin_metric_works_in_a_spec(tmp_path) -> None:
    from semlink.sweep import parse_spec, run_sweep

    @metrics.register_metric("mean_abs_err", description="mean absolute error", higher_is_better=False)
    def build(precision):
        return lambda ref, rec: float(np.mean(np.abs(ref.astype(float) - rec.astype(float))))

    spec = parse_spec({"snr_db": [30.0], "metrics": ["psnr", "mean_abs_err"], "out": str(tmp_path / "o"),
                       "dataset": {"name": "photos", "max_items": 1, "options": {"size": 64, "crop": 64}},
                       "codec": [{"name": "jpeg", "quality": 50}], "link": {"mode": "ideal", "cbr": 1.0}})
    (row,) = run_sweep(spec, progress=False)
    assert row["mean_abs_err"] > 0 and row["psnr"] > 20 and row["perceptual_metric"] == ""
    with pytest.raises(ValueError, match="unknown key"):
        parse_spec({**spec.raw, "metrics": ["psnr", "nope"]})
