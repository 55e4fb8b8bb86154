"""Training throughput of the learned codecs: steps/s of the shared trainer per model and mode
(precision x eager / torch.compile / channels-last), next to a bare loop (model forward + loss +
backward + optimizer step on a fixed tensor; no data pipeline, logging or checkpoints) that shows
what the trainer's loop costs, and the choice ``--amp auto --compile auto`` makes on this machine.

Prints figures; asserts nothing. From the repository root::

    python benchmarks/train_throughput.py                     # CPU (2 threads); CUDA too when present
    python benchmarks/train_throughput.py --steps 30 --threads 2 --data folder:~/.cache/semlink/corpus/pack-v2
    python benchmarks/train_throughput.py --models gained-128-192 --modes fp32-eager,bf16-compile

Compile times are printed apart (``compile s``: the first steps' extra time) and are not in s/step.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

MODELS = {  # name: (arch, N, M, crop)
    "msh-64-128": ("MeanScaleHyperprior", 64, 128, 128),
    "msh-128-192": ("MeanScaleHyperprior", 128, 192, 128),
    "gained-128-192": ("GainedMeanScaleHyperprior", 128, 192, 128),
}
MODES = {  # name: (amp, compile, channels_last)
    "fp32-eager": ("none", "off", False),
    "bf16-eager": ("bf16", "off", False),
    "fp32-compile": ("none", "on", False),
    "bf16-compile": ("bf16", "on", False),
    "fp32-channels-last": ("none", "off", True),
    "bf16-channels-last": ("bf16", "off", True),
}


def bare_loop(arch: str, n: int, m: int, crop: int, batch: int, mode: str, device: str, steps: int) -> tuple[float, float]:
    """(seconds per step, seconds of the first two steps) of the bare loop in ``mode``."""
    import torch

    from semlink.entropy import rd_loss_cls
    from semlink.nn.gained_hyperprior import rd_loss
    from semlink.nn.hyperprior import build_model
    from semlink.train.hyperprior_task import autocast_transforms

    amp, comp, cl = MODES[mode]
    RateDistortionLoss = rd_loss_cls()

    net = build_model(n, m, arch).to(device).train()
    x = torch.rand(batch, 3, crop, crop, device=device)
    if cl:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if amp == "bf16":
        autocast_transforms(net, device)
    if comp == "on":
        for mod in (net.g_a, net.g_s, net.h_a, net.h_s):
            mod.compile()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    gained = arch == "GainedMeanScaleHyperprior"
    crit = RateDistortionLoss(lmbda=0.0067)

    def step():
        opt.zero_grad(set_to_none=True)
        if gained:
            lv = torch.randint(0, net.levels, (batch,), device=device)
            loss = rd_loss(net(x, lv), x, torch.full((batch,), 0.0067, device=device))["loss"]
        else:
            loss = crit(net(x), x)["loss"]
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    step(), step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps, warm


def trainer(arch: str, n: int, m: int, crop: int, batch: int, mode: str, device: str, steps: int, data: str) -> float:
    """Seconds per step of ``semlink train hyperprior`` in ``mode`` (data, loop, logging; the
    first run compiles, the timed resume reuses the compiled code of this process)."""
    from semlink.train.loop import TrainConfig, train

    amp, comp, cl = MODES[mode]
    if cl:
        return float("nan")  # the trainer has no channels-last mode (measured slower on CPUs)
    opts = {"lambdas": [0.0018, 0.0067, 0.025]} if arch == "GainedMeanScaleHyperprior" else {}
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(lmbda=0.0067, steps=3, out=out, n=n, m=m, arch=arch, crop=crop, batch=batch, amp=amp,
                          compile=comp, device=device, data=data, progress=False, save_every=10**9, log_every=10,
                          options=opts)
        train(cfg)  # warm-up (first steps, data loading, compilation)
        cfg.steps, cfg.resume_flag = 3 + steps, True
        s = train(cfg)
    return 1.0 / s["it_per_s"]


def main() -> int:
    import torch

    from semlink.precision import cpu_model, resolve_amp

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default="bundled", help="trainer's data (e.g. folder:~/.cache/semlink/corpus/pack-v2)")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    p.add_argument("--no-trainer", action="store_true", help="bare loop only")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"{cpu_model()} ({platform.machine()}), torch {torch.__version__}; batch {args.batch}, "
          f"{args.steps} timed steps, {args.threads} CPU threads")
    for device in devices:
        print(f"--amp auto on {device}: {resolve_amp('auto', device).amp} ({resolve_amp('auto', device).reason})")
    print(f"{'device':6s} {'model':15s} {'crop':>4s} {'mode':19s} {'bare s/step':>11s} {'compile s':>9s} "
          f"{'trainer s/step':>14s} {'trainer steps/s':>15s} {'samples/s':>9s}")
    for device in devices:
        for model in args.models.split(","):
            arch, n, m, crop = MODELS[model]
            base = None
            for mode in args.modes.split(","):
                bare, warm = bare_loop(arch, n, m, crop, args.batch, mode, device, args.steps)
                full = float("nan") if args.no_trainer else trainer(arch, n, m, crop, args.batch, mode, device,
                                                                     args.steps, args.data)
                base = base or full
                print(f"{device:6s} {model:15s} {crop:4d} {mode:19s} {bare:11.3f} {max(0.0, warm - 2 * bare):9.1f} "
                      f"{full:14.3f} {1 / full:15.2f} {args.batch / full:9.1f}"
                      + (f"   x{base / full:.2f} vs {args.modes.split(',')[0]}" if full == full and base else ""),
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
