"""What makes sweeps fast must not change their numbers: the perceptual metric's cached
reference features and bf16 path, the LMMSE covariance cache, the shared encoding cache, and
the committed main-job table."""

import math

import numpy as np
import pytest

from semlink.data import get_dataset
from semlink.simulator.metrics import PerceptualMetric, perceptual_metric


@pytest.fixture(scope="module")
def fp32():
    return PerceptualMetric("st_lpips", precision="fp32")


def _damaged(x: np.ndarray, seed: int, amp: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(x.astype(np.int16) + rng.integers(-amp, amp + 1, x.shape), 0, 255).astype(np.uint8)


def test_feature_path_equals_the_packages_forward(fp32):
    """The metric computes features itself (to cache the reference's): same value as the
    package's own forward() on the pair."""
    import torch

    from semlink.simulator.metrics import _to_tensor

    img = get_dataset("photos", size=96, crop=96, max_items=1)[0].data
    rec = _damaged(img, 0, 30)
    with torch.no_grad():
        want = float(fp32.net(_to_tensor(img) / 127.5 - 1, _to_tensor(rec) / 127.5 - 1).mean())
    assert fp32(img, rec) == pytest.approx(want, abs=1e-6)
    assert fp32(img, rec) == pytest.approx(want, abs=1e-6)  # second call: reference features from the cache


def test_clip_frames_scored_together_equal_frame_by_frame(fp32):
    clip = get_dataset("clips", size=64, crop=64, max_frames=4)[2].data
    rec = _damaged(clip, 1, 20)
    per = fp32.per_frame(clip, rec)
    single = [fp32(clip[t], rec[t]) for t in range(clip.shape[0])]
    assert per.shape == (4,) and np.allclose(per, single, atol=1e-6)
    assert fp32(clip, rec) == pytest.approx(float(np.mean(single)), abs=1e-6)


def test_bf16_stays_within_1e_3_of_fp32_on_photos_and_clips(fp32):
    bf16 = PerceptualMetric("st_lpips", precision="bf16")
    photos = [it.data for it in get_dataset("photos", size=192, crop=192)]
    clips = [it.data for it in get_dataset("clips", size=96, crop=96, max_frames=3)]
    worst = 0.0
    for i, x in enumerate(photos + clips):
        for amp in (1, 3, 25, 80):
            rec = _damaged(x, i, amp)
            worst = max(worst, abs(bf16(x, rec) - fp32(x, rec)))
    assert worst < 1e-3, worst


def test_auto_precision_is_recorded():
    m = perceptual_metric()
    assert m.precision in ("fp32", "bf16") and m.name in ("lpips", "st_lpips")


def test_lmmse_covariances_cached_per_configuration(tmp_path, monkeypatch):
    from semlink.phy import Link, LinkConfig

    monkeypatch.setenv("SEMLINK_CACHE_DIR", str(tmp_path))
    cfg = LinkConfig(channel="tdl-a", estimator="lmmse", channel_params={"delay_spread": 50e-9})
    first = Link(cfg)
    assert not first.lmmse_from_cache and len(list((tmp_path / "lmmse").glob("*.npz"))) == 1

    import sionna.phy.channel as ch

    def refuse(*a, **k):
        raise AssertionError("covariances recomputed despite the cache")

    monkeypatch.setattr(ch, "GenerateOFDMChannel", refuse)
    again = Link(cfg)
    assert again.lmmse_from_cache
    payload = bytes(range(256)) * 4
    a = first.transmit(payload, 8.0, np.random.default_rng(3))
    b = again.transmit(payload, 8.0, np.random.default_rng(3))
    assert a.payload == b.payload and a.raw_bit_errors == b.raw_bit_errors
    monkeypatch.undo()
    monkeypatch.setenv("SEMLINK_CACHE_DIR", str(tmp_path))
    other = Link(LinkConfig(channel="tdl-a", estimator="lmmse", channel_params={"delay_spread": 300e-9}))
    assert not other.lmmse_from_cache  # another configuration: another entry
    assert len(list((tmp_path / "lmmse").glob("*.npz"))) == 2


def test_workers_share_encodings_through_the_sweep_cache(tmp_path):
    from semlink.sweep import parse_spec, run_sweep
    from semlink.sweep.context import WorkerContext

    spec = parse_spec({"snr_db": [5.0, 30.0], "trials": 2, "metrics": ["psnr"], "out": str(tmp_path / "o"),
                       "dataset": {"name": "photos", "max_items": 1, "options": {"size": 64, "crop": 64}},
                       "codec": [{"name": "jpeg2000", "bpp": 1.0}], "link": {"channel": "awgn"}})
    rows = run_sweep(spec, progress=False)
    files = list((tmp_path / "o" / ".encodings").glob("*.pkl"))
    assert len(files) == 1  # one encoding for all rows of the item
    WorkerContext.current().encodings.clear()  # a fresh worker finds it on disk: same bytes, same rows
    again = run_sweep(spec, progress=False, fresh=False, out_dir=tmp_path / "o2")
    assert [r["bits"] for r in again] == [r["bits"] for r in rows]
    from semlink.sweep import ResultStore

    ResultStore(tmp_path / "o").reset()  # --fresh forgets the encodings too
    assert not (tmp_path / "o" / ".encodings").exists()


def test_main_job_rows_reproduce_the_committed_table(tmp_path):
    """A slice of experiments/quick.toml (one photo, three SNRs, trial 0) gives the committed
    results/quick rows: identical rates and PHY counts, metrics within 1e-3."""
    from semlink.sweep import load_spec, read_table, run_sweep

    committed = {r["key"]: r for r in read_table("results/quick/results.csv")}
    spec = load_spec("experiments/quick.toml")
    spec.items, spec.snr_db, spec.trials = ["chelsea"], [0.0, 15.0, 30.0], 1
    rows = run_sweep(spec, tmp_path / "slice", progress=False)
    assert len(rows) == 3 * len(spec.codecs)
    for r in rows:
        c = committed[r["key"]]
        for col in ("bits", "packets", "packets_lost", "decoded_ok"):
            assert str(r[col]) == str(c[col]), (r["key"], col)
        for col in ("psnr", "ms_ssim", r["perceptual_metric"]):
            want = float(c[col])
            assert (math.isinf(want) and math.isinf(r[col])) or abs(r[col] - want) <= 1e-3, (r["key"], col)
