"""Training tasks of VQ-DeepVSC for the shared trainer.

``vqdeepvsc-msvq`` trains :class:`~.msvq.MSVQ` with eq. 15:

    L = MSE + lambda * L_perceptual (eq. 12) + L_VQ (eq. 13) + mu2 * L_GAN (eq. 14)

* MSE: mean squared error of frames in [0, 1] (``w_mse`` scales it);
* ``lambda`` (``--lambda``): weight of eq. 12, the VGG-16 feature loss of
  :class:`semlink.nn.perceptual.VGGFeatureLoss` on the network of option ``perceptual_trunk``:
  ``"imagenet"`` (default: the paper's ImageNet VGG-16, read offline) or ``"stlpips"``
  (stlpips-pytorch's shift-tolerant VGG-16 trunk, the stand-in the v1 zoo model was trained with);
* L_VQ: the codebook term of eq. 13 is replaced by EMA codebook updates (k-means initialised,
  dead codes restarted: the standard remedy for codebook collapse); the commitment term
  ``||sg[z_q] - z||^2`` is weighted by ``mu1`` (option, the model's ``commitment``);
* L_GAN: eq. 14's log loss (non-saturating form for the generator) with a patch
  discriminator (:class:`semlink.nn.discriminator.PatchDiscriminator`), switched on after
  ``gan_start`` steps with weight ``mu2``.

The channels kept (nested channels) are drawn per sample from the model's ``levels``;
validation uses ``val_keep`` channels. Validation reports the codebook perplexity and the
fraction of codes used (codebook usage), the measures of collapse.

``vqdeepvsc-ifnet`` (see :mod:`.interp_task`) trains the interpolator.
"""

from __future__ import annotations

import math
from pathlib import Path

from semlink.train.task import TrainTask, register_task, train_modules
from semlink.train.task import task_options as _options

from .checkpoint import export_msvq

MSVQ_EXPORT = "vqdeepvsc-msvq.pt"

MSVQ_OPTIONS = {"widths": [32, 64, 96], "c": 8, "d": 8, "L": 1024, "levels": [2, 3, 4, 6, 8], "mu1": 0.25,
                "decay": 0.99, "mu2": 0.1, "gan_start": 1500, "d_lr": 1e-4, "d_channels": 64, "w_mse": 1.0,
                "val_keep": 3, "perceptual_trunk": "imagenet"}


def init_from_run(net, path: str, task: str) -> dict:
    """``--init``: load the whole training network of another run of ``task`` (its directory or
    ``train_state.pt``); returns the facts for the run's metadata."""
    import torch

    p = Path(path)
    if p.is_dir():
        p = p / "train_state.pt"
    obj = torch.load(p, map_location="cpu", weights_only=True)
    if "model" not in obj or obj.get("config", {}).get("model", task) != task:
        raise ValueError(f"--init {p}: not a {task} run")
    net.load_state_dict(obj["model"])
    return {"init": str(path), "init_step": obj["step"]}


def init_from_export(module, path: str, loader) -> dict | None:
    """``--init`` from an exported checkpoint (e.g. a zoo file): load ``loader(checkpoint)``'s
    weights into ``module`` when ``path`` is a file other than ``train_state.pt``; returns the facts
    for the run's metadata (the export's training step and its sha256), or None when ``path`` is a
    run (its directory or ``train_state.pt``). A campaign whose run folder was lost (the user cache
    does not outlive a change of machine) goes on from the model it shipped this way; the
    optimizers and any discriminator start fresh."""
    import hashlib

    p = Path(path).expanduser()
    if not p.is_file() or p.name == "train_state.pt":
        return None
    from semlink.zoo.checkpoints import read_checkpoint

    ck = read_checkpoint(p)
    src = loader(ck)
    if src.config() != module.config():
        raise ValueError(f"--init {p}: the checkpoint's configuration {src.config()} differs from this run's "
                         f"{module.config()}")
    module.load_state_dict(src.state_dict())
    meta = ck.get("meta", {})
    return {"init": str(path), "init_step": meta.get("step"), "init_sha256": hashlib.sha256(p.read_bytes()).hexdigest()}


@register_task("vqdeepvsc-msvq")
class MSVQTask(TrainTask):
    """VQ-DeepVSC's MSVQ key-frame codec (eq. 15)."""

    fixed = ("lmbda",)
    log_columns = ("loss", "mse", "psnr", "perc", "vq", "g_gan", "d_loss", "perplexity")
    export_name = MSVQ_EXPORT

    def loss_description(self, cfg: dict) -> str:
        from .zoo_facts import msvq_loss

        options = (cfg.get("options") if isinstance(cfg, dict) else getattr(cfg, "options", None)) or {}
        return msvq_loss(options.get("perceptual_trunk", MSVQ_OPTIONS["perceptual_trunk"]))

    def zoo_entries(self, file, name: str, cfg: dict, quality: int | None) -> list[dict]:
        return [{"name": name, "codec": "vqdeepvsc", "quality": 0, "role": "msvq"}]

    def zoo_test(self, manifest, entries: list[dict]) -> dict[str, dict]:
        from pathlib import Path

        from .zoo_facts import msvq_test

        return {e["name"]: msvq_test(Path(manifest).parent / e["file"]) for e in entries}

    def __init__(self) -> None:
        self._perc = None

    def check(self, cfg) -> None:
        o = _options(cfg, MSVQ_OPTIONS, self.name)
        if cfg.lmbda < 0:
            raise ValueError(f"--lambda must be >= 0, got {cfg.lmbda}")
        if o["val_keep"] not in o["levels"]:
            raise ValueError(f"{self.name}: option val_keep must be one of levels {o['levels']}, got {o['val_keep']}")
        if cfg.crop % 2 ** len(o["widths"]):
            raise ValueError(f"--crop must be a multiple of {2 ** len(o['widths'])}, got {cfg.crop}")

    def build(self, cfg):
        from semlink.nn.discriminator import PatchDiscriminator

        from .msvq import MSVQ

        o = _options(cfg, MSVQ_OPTIONS, self.name)
        msvq = MSVQ(tuple(o["widths"]), o["c"], o["d"], o["L"], tuple(o["levels"]), o["mu1"], o["decay"])
        return train_modules(msvq=msvq, disc=PatchDiscriminator(3, ch=o["d_channels"], layers=3))

    def init_from(self, net, path: str) -> dict:
        """``--init``: another run of this task (its directory or ``train_state.pt``: MSVQ and
        discriminator) or an exported MSVQ checkpoint (e.g. the zoo's ``vqdeepvsc-msvq.pt``: the
        MSVQ alone, the discriminator starts fresh)."""
        from .checkpoint import load_msvq

        meta = init_from_export(net.msvq, path, load_msvq)
        return meta if meta is not None else init_from_run(net, path, self.name)

    def optimizers(self, net, cfg) -> list:
        import torch

        o = _options(cfg, MSVQ_OPTIONS, self.name)
        params = [p for p in net.msvq.parameters() if p.requires_grad]
        return [torch.optim.Adam(params, lr=cfg.lr, betas=(0.5, 0.9)),
                torch.optim.Adam(net.disc.parameters(), lr=o["d_lr"], betas=(0.5, 0.9))]

    def _perceptual(self, cfg):
        if self._perc is None:
            from semlink.nn.perceptual import VGGFeatureLoss

            trunk = _options(cfg, MSVQ_OPTIONS, self.name)["perceptual_trunk"]
            self._perc = VGGFeatureLoss(trunk, bf16=cfg.amp == "bf16").to(cfg.device)
        return self._perc

    def _forward(self, net, x, keep, cfg):
        import torch

        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
            out = net.msvq(x, keep)
        out["x_hat"] = out["x_hat"].float()
        return out

    def train_step(self, net, x, optimizers, cfg) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        from .msvq import perplexity

        o = _options(cfg, MSVQ_OPTIONS, self.name)
        opt, d_opt = optimizers
        levels = torch.tensor(o["levels"])
        keep = levels[torch.randint(len(levels), (x.shape[0],))].to(x.device)
        out = self._forward(net, x, keep, cfg)
        x_hat = out["x_hat"]
        mse = torch.mean((x_hat - x) ** 2)
        perc = self._perceptual(cfg)(x_hat, x).mean() if cfg.lmbda > 0 else torch.zeros((), device=x.device)
        loss = o["w_mse"] * mse + cfg.lmbda * perc + out["vq_loss"]
        step = getattr(self, "_step", 0)
        gan_on = o["mu2"] > 0 and step >= o["gan_start"]
        g_gan = d_loss = math.nan
        if gan_on:
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
                logits = net.disc(x_hat)[-1].float()
            g = F.softplus(-logits).mean()  # -log D(x_hat): non-saturating form of eq. 14
            loss = loss + o["mu2"] * g
            g_gan = float(g.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if gan_on:
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
                real = net.disc(x)[-1].float()
                fake = net.disc(x_hat.detach())[-1].float()
            dl = F.softplus(-real).mean() + F.softplus(fake).mean()  # -(log D(x) + log(1 - D(x_hat)))
            d_opt.zero_grad(set_to_none=True)
            dl.backward()
            d_opt.step()
            d_loss = float(dl.detach())
        self._step = step + 1
        m = float(mse.detach())
        return {"loss": float(loss.detach()), "mse": m, "psnr": 10 * math.log10(1 / max(m, 1e-10)),
                "perc": float(perc.detach()), "vq": float(out["vq_loss"].detach()), "g_gan": g_gan, "d_loss": d_loss,
                "perplexity": perplexity(out["indices"], net.msvq.L)}

    def prepare(self, net, cfg) -> None:
        # the GAN switch needs the global step: counted from the resumed run's saved step
        import torch

        state = Path(cfg.out) / "train_state.pt"
        self._step = 0
        if cfg.resume_flag and state.exists():
            self._step = int(torch.load(state, map_location="cpu", weights_only=True)["step"])

    def evaluate(self, net, x, cfg) -> dict[str, float]:
        import torch

        from .msvq import perplexity

        o = _options(cfg, MSVQ_OPTIONS, self.name)
        keep = torch.full((x.shape[0],), o["val_keep"], device=x.device)
        out = self._forward(net, x, keep, cfg)
        mse = float(((out["x_hat"].clamp(0, 1) - x) ** 2).mean())
        perc = float(self._perceptual(cfg)(out["x_hat"], x).mean())
        idx = out["indices"][:, : o["val_keep"]]
        used = int(torch.unique(idx).numel())
        return {"loss": mse + cfg.lmbda * perc, "mse": mse, "psnr": 10 * math.log10(1 / max(mse, 1e-10)),
                "perc": perc, "perplexity": perplexity(idx, net.msvq.L), "codes_used": used}

    def export(self, net, path, cfg, meta) -> None:
        o = _options(cfg, MSVQ_OPTIONS, self.name)
        export_msvq(net.msvq, path, meta={"lambda": cfg.lmbda, "options": o, **meta})
