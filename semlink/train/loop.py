"""The shared trainer: one loop for every learned model (a :class:`~semlink.train.task.TrainTask`).

The trainer owns data, loop, logging, checkpoints; the task (``cfg.model``, e.g. ``"hyperprior"``)
owns the network, optimizers, step, validation and export (:mod:`semlink.train.task`).

Output directory:

* ``train_state.pt`` — resumable state (float32 weights, every optimizer, step, config, training
  seconds, best validation), written atomically every ``save_every`` steps, at the end and when
  ``max_minutes`` stops the run;
* the task's export (``hyperprior.pt`` for the hyperprior) written at the same moments, and
  ``best.pt`` whenever the validation loss improves (with ``val_fraction > 0``);
* ``log.csv`` — step, the task's figures (averages since the last line), seconds; ``val.csv``;
  the same scalars in ``tensorboard/`` when the ``tensorboard`` package is installed.

Resuming (``resume_flag``) continues from the saved step up to ``steps`` (a total, not an
increment); crops and noise are drawn from generators seeded by (seed, step), so a chain of
time-limited runs ends with the same weights as one uninterrupted run (tested).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path


from semlink.errors import ConfigError

STATE = "train_state.pt"
LOG = "log.csv"
#: ``compile = "auto"`` compiles only runs with at least this many steps left (compiling costs ~1 min)
COMPILE_MIN_STEPS = 1000


@dataclass
class TrainConfig:
    """A training run. Shared fields first; ``lmbda`` .. ``aux_lr`` are the hyperprior task's."""

    steps: int
    out: str
    #: rate-distortion trade-off; None for tasks that bring their own (e.g. several rate levels)
    lmbda: float | None = None
    #: the registered training task (:func:`semlink.train.task.get_task`)
    model: str = "hyperprior"
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
    #: "auto" (bf16 where the device has it natively, see :mod:`semlink.precision`), "none"
    #: (float32) or "bf16": the task's transforms under bf16 autocast; entropy models in float32
    amp: str = "auto"
    #: "auto" (torch.compile the task's compile targets for runs of >= COMPILE_MIN_STEPS steps,
    #: where a C++ compiler exists; eager if compiling fails), "on" or "off" (eager)
    compile: str = "auto"
    #: stop cleanly (checkpoint + export) after this many minutes of training; None = no limit
    max_minutes: float | None = None
    #: every n-th training image (n = round(1 / val_fraction)) is held out for validation; 0 = none
    val_fraction: float = 0.0
    #: validate every N steps (and at the end): estimated bpp, PSNR, loss on fixed crops of the held-out images
    val_every: int = 1000
    #: exponential moving average of the weights (decay per step, e.g. 0.999; 0 = off): validation,
    #: ``best.pt`` and every export use the averaged weights; the training itself continues on the raw ones
    ema: float = 0.0
    #: the task's own settings (``[options]`` of a recipe, ``--set KEY=VALUE``); the task validates them
    options: dict = field(default_factory=dict)
    progress: bool = True
    resume_flag: bool = False

    def check(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"--steps must be >= 1, got {self.steps}")
        for k in ("batch", "save_every", "log_every", "val_every"):
            if getattr(self, k) < 1:
                raise ConfigError(f"--{k.replace('_', '-')} must be >= 1, got {getattr(self, k)}")
        if self.crop < 64 or self.crop % 64:
            raise ConfigError(f"--crop must be a positive multiple of 64, got {self.crop}")
        if self.init is not None and not Path(self.init).expanduser().exists():
            raise ConfigError(f"--init {self.init}: no such file or directory")
        if self.amp not in ("auto", "none", "bf16"):
            raise ConfigError(f"--amp must be 'auto', 'none' or 'bf16', got {self.amp!r}")
        if self.compile not in ("auto", "on", "off"):
            raise ConfigError(f"--compile must be 'auto', 'on' or 'off', got {self.compile!r}")
        if not 0.0 <= self.val_fraction < 0.5:
            raise ConfigError(f"--val-fraction must be in [0, 0.5), got {self.val_fraction}")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"--ema must be in [0, 1), got {self.ema}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError(f"--max-minutes must be > 0, got {self.max_minutes}")


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


def _validate(task, net, batch, cfg) -> dict:
    """Mean of the task's validation figures over the held-out crops (eval mode, no gradients)."""
    import torch

    net.eval()
    sums: dict[str, float] = {}
    with torch.no_grad():
        for x in batch:
            for k, v in task.evaluate(net, x.to(cfg.device), cfg).items():
                sums[k] = sums.get(k, 0.0) + float(v)
    net.train()
    return {k: v / len(batch) for k, v in sums.items()}


class _EMA:
    """Float32 shadow copies of the network's floating-point state, averaged after every step."""

    def __init__(self, net, decay: float, saved: dict | None = None) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().float().clone() for k, v in net.state_dict().items() if v.is_floating_point()}
        if saved:
            for k, v in saved.items():
                if k in self.shadow:
                    self.shadow[k].copy_(v)

    def update(self, net) -> None:
        import torch

        with torch.no_grad():
            for k, v in net.state_dict().items():
                if k in self.shadow:
                    self.shadow[k].mul_(self.decay).add_(v.detach().float(), alpha=1.0 - self.decay)

    def swapped(self, net):
        """Context manager: the network holds the averaged weights inside it."""
        import contextlib

        import torch

        @contextlib.contextmanager
        def cm():
            sd = net.state_dict()
            backup = {k: sd[k].detach().clone() for k in self.shadow}
            with torch.no_grad():
                for k, v in self.shadow.items():
                    sd[k].copy_(v.to(sd[k].dtype))
            try:
                yield net
            finally:
                with torch.no_grad():
                    for k, v in backup.items():
                        sd[k].copy_(v)

        return cm()


def _tensorboard(out: Path):
    """A TensorBoard writer on ``out/tensorboard`` when the ``tensorboard`` package is installed
    (``pip install tensorboard``; no TensorFlow needed), else None: log.csv / val.csv always."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def _lr(cfg: TrainConfig, step: int) -> float:
    return cfg.lr * (0.1 if step >= cfg.lr_drop * cfg.steps else 1.0)


def _save(path: Path, obj) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _compile(task, net, cfg: TrainConfig, remaining: int) -> tuple[list, str]:
    """``torch.compile`` the task's compile targets in place (``nn.Module.compile``: the state
    dict keeps its names) as ``cfg.compile`` says; returns (compiled modules, a note to print)."""
    import shutil

    targets = list(task.compile_targets(net))
    if not targets:
        return [], "eager (the task names nothing to compile)"
    if cfg.compile == "off":
        return [], "eager (--compile off)"
    if cfg.compile == "auto":
        if remaining < COMPILE_MIN_STEPS:
            return [], f"eager (--compile auto: {remaining} steps to run < {COMPILE_MIN_STEPS})"
        if not cfg.device.startswith("cuda") and not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
            return [], "eager (--compile auto: no C++ compiler for torch.compile's CPU code)"
    for m in targets:
        m.compile()
    return targets, f"torch.compile of {len(targets)} module(s) (--compile {cfg.compile})"


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) a training; returns a summary dict (step, last figures, paths, it/s)."""
    import torch
    from tqdm import tqdm

    from .data import RandomCrops, load_training_images
    from .task import get_task

    from semlink.precision import resolve_amp

    from .distributed import (AveragingOptimizer, agree, broadcast_module, check_equal, init_from_env, local_device,
                              shutdown)

    task = get_task(cfg.model)
    cfg.check()
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but torch sees no CUDA device")
    dist = init_from_env(cfg.device)  # torchrun: one rank of a data-parallel run (semlink.train.distributed)
    cfg = dataclasses.replace(cfg, device=local_device(dist, cfg.device))
    if cfg.lmbda is None and task.lambda_required(cfg):
        raise ConfigError(f"{cfg.model}: --lambda is required (on the command line or in the --recipe)")
    precision = resolve_amp(cfg.amp, cfg.device)
    cfg = dataclasses.replace(cfg, amp=precision.amp)  # the tasks see the resolved precision
    task.check(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out).expanduser()
    state_path = out / STATE
    resume_state = None
    if state_path.exists():
        if not cfg.resume_flag:
            raise ConfigError(f"{out} already holds a training run ({STATE}); pass --resume to continue it or use another --out")
        resume_state = torch.load(state_path, map_location="cpu", weights_only=True)
        old = resume_state["config"]
        fixed = ("model",) + tuple(task.fixed)
        default = {"arch": "ScaleHyperprior", "model": "hyperprior"}
        bad = [f"{k}: {old.get(k, default.get(k))} (saved) vs {getattr(cfg, k)}" for k in fixed
               if old.get(k, default.get(k)) != getattr(cfg, k)]
        if bad:
            raise ConfigError(f"cannot resume {out}: configuration differs ({'; '.join(bad)})")
    main = dist.main  # rank 0 writes logs, validation, checkpoints and exports
    running = None
    if main:
        out.mkdir(parents=True, exist_ok=True)
        from .runs import mark_running

        running = mark_running(out)
    # every rank draws its own samples (rank 0 of a data-parallel run, and a plain run, keep cfg.seed)
    data_seed = cfg.seed + 100_003 * dist.rank
    own = task.data(dataclasses.replace(cfg, seed=data_seed))  # a task with its own samples (e.g. frame triplets)
    if own is not None:
        crops, val_batch = own
    else:
        images = load_training_images(cfg.data, cfg.vc2_scale)
        val_images = []
        if cfg.val_fraction > 0:
            stride = max(2, round(1 / cfg.val_fraction))
            val_images = images[::stride]
            images = [im for i, im in enumerate(images) if i % stride]
        crops = RandomCrops(images, cfg.crop, cfg.batch, data_seed)
        val_batch = _validation_batch(val_images, cfg.crop) if val_images else None
    torch.manual_seed(cfg.seed)
    net = task.build(cfg)
    init_meta = task.init_from(net, str(Path(cfg.init).expanduser())) if cfg.init and resume_state is None else {}
    net = net.to(cfg.device).train()
    opts = task.optimizers(net, cfg)
    step = 0
    if resume_state is not None:
        net.load_state_dict(resume_state["model"])
        saved = resume_state.get("optimizers") or [resume_state["opt"], resume_state["aux_opt"]]
        for o, sd in zip(opts, saved):
            o.load_state_dict(sd)
        step = int(resume_state["step"])
    broadcast_module(dist, net)
    if dist.active:
        opts = [AveragingOptimizer(o, dist) for o in opts]
    if cfg.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    task.prepare(net, cfg)
    compiled, compile_note = _compile(task, net, cfg, cfg.steps - step)
    if cfg.progress and main:
        import sys

        print(f"[train] precision: {'bf16 autocast' if precision.bf16 else 'float32'} ({precision.reason}); "
              f"{compile_note}", file=sys.stderr)
    ema = _EMA(net, cfg.ema, resume_state.get("ema") if resume_state is not None else None) if cfg.ema > 0 else None
    config_dict = {k: v for k, v in dataclasses.asdict(cfg).items()
                   if k not in ("progress", "resume_flag", "max_minutes", "threads")}
    if resume_state is not None:
        init_meta = resume_state.get("init_meta", {})
    meta = {"model": cfg.model, "data": cfg.data, "crop": cfg.crop, "batch": cfg.batch, "seed": cfg.seed,
            "lr": cfg.lr, "amp": cfg.amp, "device": cfg.device, **({"world_size": dist.world} if dist.active else {}),
            **init_meta}
    seconds_before = float(resume_state.get("seconds", 0.0)) if resume_state is not None else 0.0
    best = dict(resume_state.get("best", {})) if resume_state is not None else {}
    cols = tuple(task.log_columns)
    val_log = out / "val.csv"
    log_path = out / LOG
    if not main:
        pass
    elif not log_path.exists():
        log_path.write_text("step," + ",".join(cols) + ",seconds\n")
    elif resume_state is not None:
        # drop lines logged after the saved state (an interrupted run logs past its last save)
        for path in (log_path, val_log):
            if path.exists():
                lines = path.read_text().splitlines()
                keep = [lines[0]] + [ln for ln in lines[1:] if ln and int(ln.split(",")[0]) <= step]
                path.write_text("\n".join(keep) + "\n")

    def averaged():
        import contextlib

        return ema.swapped(net) if ema is not None else contextlib.nullcontext(net)

    def checkpoint(step: int) -> None:
        check_equal(dist, net)  # every rank (collective); a plain run: nothing
        if not main:
            return
        seconds = seconds_before + time.perf_counter() - t_start
        _save(state_path, {"config": config_dict, "step": step, "init_meta": init_meta, "model": net.state_dict(),
                           "optimizers": [o.state_dict() for o in opts], "seconds": seconds, "best": best,
                           **({"ema": ema.shadow} if ema is not None else {})})
        with averaged():
            task.export(net, out / task.export_name, cfg, {**meta, "step": step, "train_seconds": round(seconds, 1),
                                                           **({"ema": cfg.ema} if ema is not None else {})})

    acc: dict[str, float] = {}
    n_acc = 0
    t_start = time.perf_counter()
    t_log = t_start
    start_step = step
    last: dict[str, float] = {}
    tb = _tensorboard(out) if main else None
    bar = tqdm(total=cfg.steps, initial=step, disable=not (cfg.progress and main), desc=f"{cfg.model} {out.name}",
               dynamic_ncols=True, mininterval=1.0)
    deadline = t_start + 60 * cfg.max_minutes if cfg.max_minutes else None
    stopped_early = False
    finished = False  # the loop ended normally (a clean data-parallel shutdown waits for every rank)
    try:
        while step < cfg.steps:
            if deadline is not None and agree(dist, time.perf_counter() >= deadline):
                stopped_early = True
                checkpoint(step)  # a clean stop: the next run resumes here
                break
            for g in opts[0].param_groups:
                g["lr"] = _lr(cfg, step) * g.get("lr_scale", 1.0)  # a task may scale a group (e.g. entropy models)
            seed_step = cfg.seed * 1_000_003 + step
            torch.manual_seed(seed_step * 64 + dist.rank if dist.active else seed_step)  # noise draws reproducible on resume
            x = torch.from_numpy(crops.batch(step)).to(cfg.device, non_blocking=True)
            try:
                figures = task.train_step(net, x, opts, cfg)
            except Exception as exc:  # noqa: BLE001 - a compile failure on the first step: run eagerly
                if not compiled or cfg.compile != "auto" or step != start_step:
                    raise
                for m in compiled:
                    m._compiled_call_impl = None
                compiled, compile_note = [], f"eager (torch.compile failed: {type(exc).__name__})"
                import sys

                print(f"[train] {compile_note}: {str(exc).splitlines()[0][:200]}", file=sys.stderr)
                figures = task.train_step(net, x, opts, cfg)
            if ema is not None:
                ema.update(net)
            step += 1
            for k in cols:
                acc[k] = acc.get(k, 0.0) + float(figures.get(k, math.nan))
            n_acc += 1
            bar.update(1)
            if main and (step % cfg.log_every == 0 or step == cfg.steps):
                now = time.perf_counter()
                last = {k: acc[k] / n_acc for k in cols}
                with log_path.open("a") as f:
                    f.write(f"{step}," + ",".join(f"{last[k]:.6g}" for k in cols) + f",{now - t_log:.3f}\n")
                bar.set_postfix({k: f"{last[k]:.4g}" for k in cols[:3]})
                if tb is not None:
                    for k in cols:
                        if math.isfinite(last[k]):
                            tb.add_scalar(f"train/{k}", last[k], step)
                acc, n_acc, t_log = {}, 0, now
            if main and val_batch is not None and (step % cfg.val_every == 0 or step == cfg.steps):
                with averaged():
                    v = _validate(task, net, val_batch, cfg)
                vcols = sorted(v, key=lambda k: (k != "loss", k))
                if not val_log.exists():
                    val_log.write_text("step," + ",".join(vcols) + "\n")
                with val_log.open("a") as f:
                    f.write(f"{step}," + ",".join(f"{v[k]:.6g}" for k in vcols) + "\n")
                if tb is not None:
                    for k in vcols:
                        tb.add_scalar(f"val/{k}", float(v[k]), step)
                if not best or v["loss"] < best["loss"]:
                    best = {**v, "step": step}
                    with averaged():
                        task.export(net, out / "best.pt", cfg, {**meta, "step": step, "val": v})
            if step % cfg.save_every == 0 or step == cfg.steps:
                checkpoint(step)
        finished = True
    finally:
        bar.close()
        if running is not None:
            running.unlink(missing_ok=True)
        if tb is not None:
            tb.close()
        shutdown(dist, clean=finished)
    elapsed = time.perf_counter() - t_start
    done = step - start_step
    return {"step": step, "steps_run": done, "it_per_s": done / elapsed if elapsed > 0 else float("nan"),
            "precision": precision.amp, "precision_reason": precision.reason, "compile": compile_note,
            "rank": dist.rank, "world_size": dist.world,
            "stopped_at_time_limit": stopped_early, "best_validation": best,
            "state": str(state_path), "checkpoint": str(out / task.export_name), "log": str(log_path), **last}
