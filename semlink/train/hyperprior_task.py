"""The ``hyperprior`` training task: CompressAI's (Mean)ScaleHyperprior, rate-distortion loss.

Loss (CompressAI's ``RateDistortionLoss``): ``lambda * 255^2 * MSE + bpp`` with additive
uniform noise as the quantization proxy; Adam on the network (the trainer's learning rate)
and a separate Adam (``aux_lr``) on the entropy bottleneck's quantiles (aux loss); gradients
clipped to norm 1. ``amp = "bf16"`` runs the four transforms under bf16 autocast and keeps the
entropy models (likelihoods, CDFs) in float32. Export: ``hyperprior.pt``, float16 weights +
CPU-computed CDF tables (``get_codec("hyperprior", checkpoint=...)``).

Settings (fields of :class:`~semlink.train.loop.TrainConfig`): ``lmbda``, ``n``, ``m``,
``arch``, ``quality`` (rate-point id of the export), ``aux_lr``.
"""

from __future__ import annotations

import math
from pathlib import Path

from .task import TrainTask, register_task

STATE = "train_state.pt"
EXPORT = "hyperprior.pt"


@register_task("hyperprior")
class HyperpriorTask(TrainTask):
    fixed = ("n", "m", "lmbda", "arch")
    log_columns = ("loss", "bpp", "mse", "psnr", "aux_loss")
    export_name = EXPORT

    def __init__(self) -> None:
        self._crit = None

    def check(self, cfg) -> None:
        if not cfg.lmbda > 0:
            raise ValueError(f"--lambda must be > 0, got {cfg.lmbda}")
        for k in ("n", "m"):
            if getattr(cfg, k) < 1:
                raise ValueError(f"--{k} must be >= 1, got {getattr(cfg, k)}")
        if not 1 <= cfg.quality <= 31:
            raise ValueError(f"--quality must be in [1, 31], got {cfg.quality}")
        from semlink.codecs.hyperprior import ARCHS

        if cfg.arch not in ARCHS:
            raise ValueError(f"--arch must be one of {', '.join(ARCHS)}, got {cfg.arch!r}")

    def _criterion(self, cfg):
        if self._crit is None:
            from semlink.codecs.hyperprior import import_compressai

            import_compressai()  # quiet import (torch_geometric warnings) before compressai.losses
            from compressai.losses import RateDistortionLoss

            self._crit = RateDistortionLoss(lmbda=cfg.lmbda)
        return self._crit

    def build(self, cfg):
        from semlink.codecs.hyperprior import build_model

        return build_model(cfg.n, cfg.m, cfg.arch)

    def init_from(self, net, path: str) -> dict:
        """Weights of another run (its directory, ``train_state.pt`` or exported ``hyperprior.pt``)."""
        import torch

        p = Path(path)
        if p.is_dir():
            p = p / STATE if (p / STATE).exists() else p / EXPORT
        obj = torch.load(p, map_location="cpu", weights_only=True)
        if "model" in obj:  # train_state.pt
            sd, c, step = obj["model"], obj["config"], obj["step"]
            arch, n, m, lmbda = c.get("arch", "ScaleHyperprior"), c["n"], c["m"], c["lmbda"]
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

    def optimizers(self, net, cfg) -> list:
        import torch

        main = [p for n, p in net.named_parameters() if not n.endswith(".quantiles") and p.requires_grad]
        aux = [p for n, p in net.named_parameters() if n.endswith(".quantiles") and p.requires_grad]
        return [torch.optim.Adam(main, lr=cfg.lr), torch.optim.Adam(aux, lr=cfg.aux_lr)]

    def prepare(self, net, cfg) -> None:
        if cfg.amp == "bf16":
            autocast_transforms(net, cfg.device)

    def train_step(self, net, x, optimizers, cfg) -> dict[str, float]:
        import torch

        opt, aux_opt = optimizers
        opt.zero_grad(set_to_none=True)
        aux_opt.zero_grad(set_to_none=True)
        loss = self._criterion(cfg)(net(x), x)
        loss["loss"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        aux = net.aux_loss()
        aux.backward()
        aux_opt.step()
        mse = float(loss["mse_loss"].detach())
        return {"loss": float(loss["loss"].detach()), "bpp": float(loss["bpp_loss"].detach()), "mse": mse,
                "psnr": 10 * math.log10(1 / max(mse, 1e-10)), "aux_loss": float(aux.detach())}

    def evaluate(self, net, x, cfg) -> dict[str, float]:
        r = self._criterion(cfg)(net(x), x)
        mse = float(r["mse_loss"])
        return {"loss": float(r["loss"]), "bpp": float(r["bpp_loss"]), "mse": mse,
                "psnr": 10 * math.log10(1 / max(mse, 1e-10))}

    def export(self, net, path, cfg, meta) -> None:
        from semlink.codecs.hyperprior import export_checkpoint

        export_checkpoint(net, path, quality=cfg.quality, meta={"lambda": cfg.lmbda, **meta})


def autocast_transforms(net, device: str) -> None:
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
