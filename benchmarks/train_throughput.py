"""Training throughput of the learned codecs: samples/s and steps/s per model, precision and device,
next to a bare-loop reference (model forward + loss + backward + optimizer step on a fixed
tensor, no data pipeline, no logging/checkpointing) that shows what the trainer's loop costs.

Prints figures; asserts nothing. From the repository root::

    python benchmarks/train_throughput.py                     # CPU (2 threads); CUDA too when present
    python benchmarks/train_throughput.py --steps 30 --threads 2 --data folder:corpus/pack-v1
"""

from __future__ import annotations

import argparse
import tempfile
import time

CONFIGS = [  # (arch, N, M, crop)
    ("MeanScaleHyperprior", 64, 128, 128),
    ("MeanScaleHyperprior", 128, 192, 128),
    ("ScaleHyperprior", 128, 192, 128),
]


def bare_loop(arch: str, n: int, m: int, crop: int, batch: int, amp: str, device: str, steps: int) -> float:
    """Seconds per step of the bare loop."""
    import torch

    from semlink.codecs.hyperprior import build_model, import_compressai
    from semlink.train.hyperprior_task import autocast_transforms as _autocast_transforms

    import_compressai()
    from compressai.losses import RateDistortionLoss

    net = build_model(n, m, arch).to(device).train()
    if amp == "bf16":
        _autocast_transforms(net, device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    crit = RateDistortionLoss(lmbda=0.0067)
    x = torch.rand(batch, 3, crop, crop, device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = crit(net(x), x)["loss"]
        loss.backward()
        opt.step()

    step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def trainer(arch: str, n: int, m: int, crop: int, batch: int, amp: str, device: str, steps: int, data: str) -> float:
    """Seconds per step of ``semlink train hyperprior`` (data, loop, logging; no checkpoint in the timed part)."""
    from semlink.train.loop import TrainConfig, train

    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(lmbda=0.0067, steps=2, out=out, n=n, m=m, arch=arch, crop=crop, batch=batch, amp=amp,
                          device=device, data=data, progress=False, save_every=10**9, log_every=10)
        train(cfg)  # warm-up (first steps, data loading)
        cfg.steps, cfg.resume_flag = 2 + steps, True
        s = train(cfg)
    return 1.0 / s["it_per_s"]


def main() -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default="bundled", help="trainer's data (e.g. folder:corpus/pack-v1)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"batch {args.batch}, {args.steps} timed steps, {args.threads} CPU threads, torch {torch.__version__}")
    print(f"{'device':6s} {'arch':20s} {'N':>4s} {'M':>4s} {'crop':>4s} {'amp':5s} {'bare s/step':>11s} "
          f"{'trainer s/step':>14s} {'samples/s':>9s} {'steps/h':>8s}")
    for device in devices:
        for arch, n, m, crop in CONFIGS:
            for amp in ("none", "bf16"):
                bare = bare_loop(arch, n, m, crop, args.batch, amp, device, args.steps)
                full = trainer(arch, n, m, crop, args.batch, amp, device, args.steps, args.data)
                print(f"{device:6s} {arch:20s} {n:4d} {m:4d} {crop:4d} {amp:5s} {bare:11.3f} {full:14.3f} "
                      f"{args.batch / full:9.1f} {3600 / full:8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
