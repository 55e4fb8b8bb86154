"""Rate-distortion training of the ``hyperprior`` codec (CompressAI ScaleHyperprior).

Loss (CompressAI's ``RateDistortionLoss``): ``lambda * 255^2 * MSE + bpp`` with additive
uniform noise as the quantization proxy; Adam on the network (``lr``, divided by 10 after
``lr_drop`` of the steps) and a separate Adam (1e-3) on the entropy bottleneck's quantiles
(aux loss); gradients clipped to norm 1.

Output directory:

* ``train_state.pt`` — resumable state (float32 weights, both optimizers, step, config),
  written atomically every ``save_every`` steps and at the end;
* ``hyperprior.pt`` — the codec checkpoint exported at the same moments (float16 weights +
  CPU-computed CDF tables; ``get_codec("hyperprior", checkpoint=...)`` reads it);
* ``log.csv`` — step, loss, bpp, mse, psnr, aux loss, seconds (averages since the last line).

Resuming (``resume=True``) continues from the saved step up to ``steps`` (a total, not an
increment); crops are drawn from a generator seeded by (seed, step), so a resumed run sees the
batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STATE = "train_state.pt"
EXPORT = "hyperprior.pt"
LOG = "log.csv"
#: Config fields that must match when resuming.
FIXED = ("n", "m", "lmbda", "arch")


@dataclass
class TrainConfig:
    lmbda: float
    steps: int
    out: str
    n: int = 128
    m: int = 192
    arch: str = "ScaleHyperprior"
    init: str | None = None
    batch: int = 8
    crop: int = 256
    lr: float = 1e-4
    lr_drop: float = 0.9
    aux_lr: float = 1e-3
    data: str = "bundled"
    vc2_scale: int = 2
    device: str = "cpu"
    save_every: int = 1000
    log_every: int = 50
    seed: int = 0
    quality: int = 1
    threads: int | None = None
    #: "none" (float32) or "bf16": analysis/synthesis transforms under bf16 autocast; the
    #: entropy models (likelihoods, CDFs) always in float32
    amp: str = "none"
    #: stop cleanly (checkpoint + export) after this many minutes of training; None = no limit
    max_minutes: float | None = None
    #: every n-th training image (n = round(1 / val_fraction)) is held out for validation; 0 = none
    val_fraction: float = 0.0
    #: validate every N steps (and at the end): estimated bpp, PSNR, loss on fixed crops of the held-out images
    val_every: int = 1000
    progress: bool = True
    resume_flag: bool = False

    def check(self) -> None:
        if not self.lmbda > 0:
            raise ValueError(f"--lambda must be > 0, got {self.lmbda}")
        if self.steps < 1:
            raise ValueError(f"--steps must be >= 1, got {self.steps}")
        for k in ("n", "m", "batch", "save_every", "log_every"):
            if getattr(self, k) < 1:
                raise ValueError(f"--{k.replace('_', '-')} must be >= 1, got {getattr(self, k)}")
        if self.crop < 64 or self.crop % 64:
            raise ValueError(f"--crop must be a positive multiple of 64, got {self.crop}")
        if not 1 <= self.quality <= 31:
            raise ValueError(f"--quality must be in [1, 31], got {self.quality}")
        from semlink.codecs.hyperprior import ARCHS

        if self.arch not in ARCHS:
            raise ValueError(f"--arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if self.init is not None and not Path(self.init).exists():
            raise ValueError(f"--init {self.init}: no such file or directory")
        if self.amp not in ("none", "bf16"):
            raise ValueError(f"--amp must be 'none' or 'bf16', got {self.amp!r}")
        if not 0.0 <= self.val_fraction < 0.5:
            raise ValueError(f"--val-fraction must be in [0, 0.5), got {self.val_fraction}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"--max-minutes must be > 0, got {self.max_minutes}")


def _init_weights(net, path: str) -> dict:
    """Load the model weights of another run (its directory, ``train_state.pt`` or exported
    ``hyperprior.pt``) into ``net``; returns facts about the source for the checkpoint's meta."""
    import torch

    p = Path(path)
    if p.is_dir():
        p = p / STATE if (p / STATE).exists() else p / EXPORT
    obj = torch.load(p, map_location="cpu", weights_only=True)
    if "model" in obj:  # train_state.pt
        sd, cfg, step = obj["model"], obj["config"], obj["step"]
        arch, n, m, lmbda = cfg.get("arch", "ScaleHyperprior"), cfg["n"], cfg["m"], cfg["lmbda"]
    elif "state_dict" in obj:  # exported checkpoint
        sd = {k: v.float() if v.is_floating_point() else v for k, v in obj["state_dict"].items()}
        arch, n, m = obj.get("arch"), obj["config"]["N"], obj["config"]["M"]
        lmbda, step = obj.get("meta", {}).get("lambda"), obj.get("meta", {}).get("step")
    else:
        raise ValueError(f"--init {p}: neither a train_state.pt nor an exported hyperprior checkpoint")
    if (arch, n, m) != (type(net).__name__, net.N, net.M):
        raise ValueError(f"--init {p}: holds {arch}(N={n}, M={m}), this run is {type(net).__name__}(N={net.N}, M={net.M})")
    net.load_state_dict(sd)  # the CDF tables are recomputed at every export
    return {"init": str(path), "init_lambda": lmbda, "init_step": step}


def _autocast_transforms(net, device: str) -> None:
    """Run the four transforms (g_a, g_s, h_a, h_s) under bf16 autocast, returning float32, so
    the entropy models' likelihoods and CDFs stay in float32. Patches the instances' forward
    (no change to the state dict)."""
    import torch

    kind = device.split(":")[0]
    for name in ("g_a", "g_s", "h_a", "h_s"):
        mod = getattr(net, name)
        inner = mod.forward

        def forward(*a, _inner=inner, **k):
            with torch.autocast(kind, dtype=torch.bfloat16):
                out = _inner(*a, **k)
            return out.float()

        mod.forward = forward


def _validation_batch(images, crop: int):
    """Fixed validation input: the centre ``2 crop x 2 crop`` window (or the whole image, cut to
    multiples of 64) of every held-out image, float32 [1, 3, h, w] in [0, 1] each."""
    import torch

    out = []
    for im in images:
        h, w = im.data.shape[:2]
        ch, cw = min(h, 2 * crop) // 64 * 64, min(w, 2 * crop) // 64 * 64
        if ch < 64 or cw < 64:
            continue
        y, x = (h - ch) // 2, (w - cw) // 2
        out.append(torch.from_numpy(im.data[y : y + ch, x : x + cw].copy()).permute(2, 0, 1)[None].float() / 255.0)
    return out


def _validate(net, crit, batch, device: str) -> dict:
    """Mean loss / estimated bpp / MSE / PSNR of the held-out crops (eval mode: rounding, no noise)."""
    import torch

    net.eval()
    acc = np.zeros(3)
    with torch.no_grad():
        for x in batch:
            x = x.to(device)
            r = crit(net(x), x)
            acc += (float(r["loss"]), float(r["bpp_loss"]), float(r["mse_loss"]))
    net.train()
    loss, bpp, mse = acc / len(batch)
    return {"loss": float(loss), "bpp": float(bpp), "mse": float(mse), "psnr": 10 * math.log10(1 / max(float(mse), 1e-10))}


def _lr(cfg: TrainConfig, step: int) -> float:
    return cfg.lr * (0.1 if step >= cfg.lr_drop * cfg.steps else 1.0)


def _optimizers(net, cfg: TrainConfig):
    import torch

    main = [p for n, p in net.named_parameters() if not n.endswith(".quantiles") and p.requires_grad]
    aux = [p for n, p in net.named_parameters() if n.endswith(".quantiles") and p.requires_grad]
    return torch.optim.Adam(main, lr=cfg.lr), torch.optim.Adam(aux, lr=cfg.aux_lr)


def _save(path: Path, obj) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) a training; returns a summary dict (step, last losses, paths, it/s)."""
    import torch
    from tqdm import tqdm

    from semlink.codecs.hyperprior import build_model, export_checkpoint, import_compressai

    import_compressai()  # quiet import (torch_geometric warnings) before compressai.losses
    from compressai.losses import RateDistortionLoss

    from .data import RandomCrops, load_training_images

    cfg.check()
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no CUDA device")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    state_path = out / STATE
    resume_state = None
    if state_path.exists():
        if not cfg.resume_flag:
            raise ValueError(f"{out} already holds a training run ({STATE}); pass --resume to continue it or use another --out")
        resume_state = torch.load(state_path, map_location="cpu", weights_only=True)
        old = resume_state["config"]
        bad = [f"{k}: {old.get(k, 'ScaleHyperprior' if k == 'arch' else None)} (saved) vs {getattr(cfg, k)}" for k in FIXED
               if old.get(k, "ScaleHyperprior" if k == "arch" else None) != getattr(cfg, k)]
        if bad:
            raise ValueError(f"cannot resume {out}: configuration differs ({'; '.join(bad)})")
    out.mkdir(parents=True, exist_ok=True)

    images = load_training_images(cfg.data, cfg.vc2_scale)
    val_images = []
    if cfg.val_fraction > 0:
        stride = max(2, round(1 / cfg.val_fraction))
        val_images = images[::stride]
        images = [im for i, im in enumerate(images) if i % stride]
    crops = RandomCrops(images, cfg.crop, cfg.batch, cfg.seed)
    val_batch = _validation_batch(val_images, cfg.crop) if val_images else None
    torch.manual_seed(cfg.seed)
    net = build_model(cfg.n, cfg.m, cfg.arch)
    init_meta = _init_weights(net, cfg.init) if cfg.init and resume_state is None else {}
    net = net.to(cfg.device).train()
    opt, aux_opt = _optimizers(net, cfg)
    step = 0
    if resume_state is not None:
        net.load_state_dict(resume_state["model"])
        opt.load_state_dict(resume_state["opt"])
        aux_opt.load_state_dict(resume_state["aux_opt"])
        step = int(resume_state["step"])
    if cfg.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    if cfg.amp == "bf16":
        _autocast_transforms(net, cfg.device)
    crit = RateDistortionLoss(lmbda=cfg.lmbda)
    config_dict = {k: v for k, v in dataclasses.asdict(cfg).items()
                   if k not in ("progress", "resume_flag", "max_minutes", "threads")}
    if resume_state is not None:
        init_meta = resume_state.get("init_meta", {})
    meta = {"lambda": cfg.lmbda, "data": cfg.data, "crop": cfg.crop, "batch": cfg.batch, "seed": cfg.seed,
            "lr": cfg.lr, "amp": cfg.amp, "device": cfg.device, **init_meta}
    seconds_before = float(resume_state.get("seconds", 0.0)) if resume_state is not None else 0.0
    best = dict(resume_state.get("best", {})) if resume_state is not None else {}
    val_log = out / "val.csv"
    if val_batch is not None and not val_log.exists():
        val_log.write_text("step,loss,bpp,mse,psnr\n")
    log_path = out / LOG
    if not log_path.exists():
        log_path.write_text("step,loss,bpp,mse,psnr,aux_loss,seconds\n")
    elif resume_state is not None:
        # drop lines logged after the saved state (an interrupted run logs past its last save)
        lines = log_path.read_text().splitlines()
        keep = [lines[0]] + [ln for ln in lines[1:] if ln and int(ln.split(",")[0]) <= step]
        log_path.write_text("\n".join(keep) + "\n")

    def checkpoint(step: int) -> None:
        seconds = seconds_before + time.perf_counter() - t_start
        _save(state_path, {"config": config_dict, "step": step, "init_meta": init_meta, "model": net.state_dict(),
                           "opt": opt.state_dict(), "aux_opt": aux_opt.state_dict(), "seconds": seconds,
                           "best": best})
        export_checkpoint(net, out / EXPORT, quality=cfg.quality,
                          meta={**meta, "step": step, "train_seconds": round(seconds, 1)})

    acc = np.zeros(5)
    n_acc = 0
    t_start = time.perf_counter()
    t_log = t_start
    start_step = step
    last = {}
    bar = tqdm(total=cfg.steps, initial=step, disable=not cfg.progress, desc=f"hyperprior lambda={cfg.lmbda:g}",
               dynamic_ncols=True, mininterval=1.0)
    deadline = t_start + 60 * cfg.max_minutes if cfg.max_minutes else None
    stopped_early = False
    try:
        while step < cfg.steps:
            if deadline is not None and time.perf_counter() >= deadline:
                stopped_early = True
                checkpoint(step)  # a clean stop: the next run resumes here
                break
            lr = _lr(cfg, step)
            for g in opt.param_groups:
                g["lr"] = lr
            torch.manual_seed(cfg.seed * 1_000_003 + step)  # noise draws reproducible on resume
            x = torch.from_numpy(crops.batch(step)).to(cfg.device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            aux_opt.zero_grad(set_to_none=True)
            res = net(x)
            loss = crit(res, x)
            loss["loss"].backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            aux = net.aux_loss()
            aux.backward()
            aux_opt.step()
            step += 1
            mse = float(loss["mse_loss"].detach())
            acc += (float(loss["loss"].detach()), float(loss["bpp_loss"].detach()), mse,
                    10 * math.log10(1 / max(mse, 1e-10)), float(aux.detach()))
            n_acc += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                avg = acc / n_acc
                now = time.perf_counter()
                last = dict(zip(("loss", "bpp", "mse", "psnr", "aux_loss"), avg.tolist()))
                with log_path.open("a") as f:
                    f.write(f"{step},{avg[0]:.6g},{avg[1]:.6g},{avg[2]:.6g},{avg[3]:.4f},{avg[4]:.6g},{now - t_log:.3f}\n")
                bar.set_postfix(loss=f"{avg[0]:.4f}", bpp=f"{avg[1]:.3f}", psnr=f"{avg[3]:.2f}")
                acc[:] = 0
                n_acc = 0
                t_log = now
            if val_batch is not None and (step % cfg.val_every == 0 or step == cfg.steps):
                v = _validate(net, crit, val_batch, cfg.device)
                with val_log.open("a") as f:
                    f.write(f"{step},{v['loss']:.6g},{v['bpp']:.6g},{v['mse']:.6g},{v['psnr']:.4f}\n")
                if not best or v["loss"] < best["loss"]:
                    best = {**v, "step": step}
                    export_checkpoint(net, out / "best.pt", quality=cfg.quality, meta={**meta, "step": step, "val": v})
            if step % cfg.save_every == 0 or step == cfg.steps:
                checkpoint(step)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t_start
    done = step - start_step
    return {"step": step, "steps_run": done, "it_per_s": done / elapsed if elapsed > 0 else float("nan"),
            "stopped_at_time_limit": stopped_early, "best_validation": best,
            "state": str(state_path), "checkpoint": str(out / EXPORT), "log": str(log_path), **last}
