"""Sweep throughput: rows/s of the main job and of a video sweep, with the time split by stage.

Prints figures; asserts nothing. Run from the repository root::

    python benchmarks/sweep_throughput.py                 # both sweeps, 2 workers
    python benchmarks/sweep_throughput.py --only video --workers 1
    python benchmarks/sweep_throughput.py --clip-metrics  # metrics of one 32-frame 320x240 clip

Each sweep runs from scratch (``--fresh``) into a temporary folder, so the figures include
every encoding, link warm-up and metric; on-disk caches under the user cache directory (LMMSE
covariances, numba kernels) are kept, as a user's second sweep would find them. Stage seconds
are summed over the rows' timing columns (work done by all workers, not wall time):
``load`` (item loading), ``warmup`` (codec, link and metric construction, once per worker),
``encode`` (first encoding of each item/codec/rate; cached ones count 0), ``link``, ``decode``,
``metrics``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("load_s", "warmup_s", "encode_s", "link_s", "decode_s", "metrics_s")

VIDEO_SPEC = """
name = "video-bench"
seed = 0
trials = 1
snr_db = [4.0, 8.0, 12.0, 16.0]
metrics = ["psnr", "ms_ssim", "perceptual"]
[dataset]
name = "clips"
options = { max_frames = 16 }
[[codec]]
name = "h265"
bcr = 0.01
[link]
mode = "phy"
channel = "tdl-c"
modulation = "qpsk"
"""


def run(spec_path: Path, workers: int, label: str) -> None:
    from semlink.sweep import load_spec, run_sweep

    spec = load_spec(spec_path)
    with tempfile.TemporaryDirectory(prefix="semlink-bench-") as out:
        t0 = time.perf_counter()
        rows = run_sweep(spec, out, workers=workers, fresh=True, progress=False)
        wall = time.perf_counter() - t0
    tot = {s: sum(float(r.get(s) or 0.0) for r in rows) for s in STAGES}
    work = sum(tot.values())
    print(f"\n{label}: {len(rows)} rows in {wall:.1f} s wall with {workers} worker(s): {len(rows) / wall:.2f} rows/s")
    print("  worker seconds by stage: " + ", ".join(
        f"{s[:-2]} {v:.1f} ({100 * v / work:.0f} %)" for s, v in tot.items()))
    perceptual = {r.get("perceptual_metric") for r in rows} - {""}
    print(f"  perceptual metric: {', '.join(sorted(perceptual)) or 'none'}")


def clip_metrics() -> None:
    """PSNR, MS-SSIM and the perceptual distance of one 32-frame 320x240 clip (2 threads)."""
    import numpy as np
    import torch

    from semlink.data import get_dataset
    from semlink.simulator.metrics import perceptual_metric
    from semlink.simulator.metrics import quality_metrics

    torch.set_num_threads(2)
    clip = get_dataset("clips", size=(240, 320), max_frames=32)[0].data
    rng = np.random.default_rng(0)
    rec = np.clip(clip.astype(np.int16) + rng.integers(-12, 13, clip.shape), 0, 255).astype(np.uint8)
    m = perceptual_metric()
    t0 = time.perf_counter()
    from semlink.simulator.metrics import build_metric

    ms = [build_metric("psnr"), build_metric("ms_ssim"), m]
    first = quality_metrics(clip, rec, ms)
    t1 = time.perf_counter()
    rec2 = rec.copy()
    rec2[0, 0, 0] ^= 1  # another reconstruction of the same clip (reference features cached)
    quality_metrics(clip, rec2, ms)
    t2 = time.perf_counter()
    print(f"\nclip metrics, {clip.shape} ({m.name}, {getattr(m, 'precision', 'fp32')}, 2 threads): first "
          f"reconstruction of a clip {t1 - t0:.2f} s, next reconstructions {t2 - t1:.2f} s; values {first}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--only", choices=("main", "video"), default=None)
    p.add_argument("--clip-metrics", action="store_true", help="only the 32-frame clip metrics timing")
    args = p.parse_args()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    if args.clip_metrics:
        clip_metrics()
        return 0
    if args.only in (None, "main"):
        run(ROOT / "experiments" / "quick.toml", args.workers, "main job (experiments/quick.toml)")
    if args.only in (None, "video"):
        with tempfile.TemporaryDirectory() as d:
            spec = Path(d) / "video.toml"
            spec.write_text(VIDEO_SPEC)
            run(spec, args.workers, "video sweep (h265, 3 clips x 16 frames, 4 SNRs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
