"""The ``hyperprior`` training task: CompressAI's (Mean)ScaleHyperprior, rate-distortion loss.

Loss (CompressAI's ``RateDistortionLoss``): ``lambda * 255^2 * MSE + bpp`` with additive
uniform noise as the quantization proxy; Adam on the network (the trainer's learning rate)
and a separate Adam (``aux_lr``) on the entropy bottleneck's quantiles (aux loss); gradients
clipped to norm 1. ``amp = "bf16"`` runs the four transforms under bf16 autocast and keeps the
entropy models (likelihoods, CDFs) in float32. Export: ``hyperprior.pt``, float16 weights +
the digest of the CDF tables computed on the CPU from them, which the loader recomputes and checks
(``get_codec("hyperprior", checkpoint=...)``).

Settings (fields of :class:`~semlink.train.loop.TrainConfig`): ``lmbda``, ``n``, ``m``,
``arch``, ``quality`` (rate-point id of the export), ``aux_lr``.

``arch = "GainedMeanScaleHyperprior"`` (:mod:`semlink.nn.gained_hyperprior`) trains one
network for several rate levels: ``[options] lambdas = [...]`` (increasing; default
:data:`~semlink.nn.gained_hyperprior.DEFAULT_LAMBDAS`; ``--lambda`` is not used), each sample
of a batch drawn at a uniformly random level and weighted by its level's lambda, mixed
quantisation (noise for the likelihoods, straight-through rounding into the synthesis). Its
export holds every level (quality ids 1..L); validation reports bpp and PSNR per level.
"""

from __future__ import annotations

import math
from pathlib import Path

from .task import TrainTask, register_task

from semlink.errors import ConfigError

STATE = "train_state.pt"
EXPORT = "hyperprior.pt"


@register_task("hyperprior")
class HyperpriorTask(TrainTask):
    fixed = ("n", "m", "lmbda", "arch", "options")
    log_columns = ("loss", "bpp", "mse", "psnr", "aux_loss")
    export_name = EXPORT

    def __init__(self) -> None:
        self._crit = None

    @staticmethod
    def gained(cfg) -> bool:
        from semlink.nn.gained_hyperprior import ARCH as GAINED

        return cfg.arch == GAINED

    def lambdas(self, cfg) -> tuple[float, ...]:
        from semlink.nn.gained_hyperprior import DEFAULT_LAMBDAS

        return tuple(float(v) for v in cfg.options.get("lambdas", DEFAULT_LAMBDAS))

    def lambda_required(self, cfg) -> bool:
        return not self.gained(cfg)

    def check(self, cfg) -> None:
        unknown = sorted(set(cfg.options) - ({"lambdas"} if self.gained(cfg) else set()))
        if unknown:
            raise ConfigError(f"hyperprior ({cfg.arch}): unknown option(s) {unknown}"
                             + ("; allowed: lambdas" if self.gained(cfg) else "; this architecture takes none"))
        if self.gained(cfg):
            lam = cfg.options.get("lambdas")
            if lam is not None and (not isinstance(lam, (list, tuple)) or not lam
                                    or any(not isinstance(v, (int, float)) or not v > 0 for v in lam)
                                    or list(lam) != sorted(lam) or len(lam) > 31):
                raise ConfigError(f"[options] lambdas must be 1..31 positive increasing numbers, got {lam!r}")
        elif not cfg.lmbda > 0:
            raise ConfigError(f"--lambda must be > 0, got {cfg.lmbda}")
        for k in ("n", "m"):
            if getattr(cfg, k) < 1:
                raise ConfigError(f"--{k} must be >= 1, got {getattr(cfg, k)}")
        if not 1 <= cfg.quality <= 31:
            raise ConfigError(f"--quality must be in [1, 31], got {cfg.quality}")
        from semlink.nn.hyperprior import ARCHS

        if cfg.arch not in ARCHS:
            raise ConfigError(f"--arch must be one of {', '.join(ARCHS)}, got {cfg.arch!r}")

    def _criterion(self, cfg):
        if self._crit is None:
            from semlink.entropy import rd_loss_cls

            self._crit = rd_loss_cls()(lmbda=cfg.lmbda)
        return self._crit

    def build(self, cfg):
        from semlink.nn.hyperprior import build_model

        if self.gained(cfg):
            from semlink.nn.gained_hyperprior import gained_mean_scale_hyperprior

            return gained_mean_scale_hyperprior(cfg.n, cfg.m, self.lambdas(cfg))
        return build_model(cfg.n, cfg.m, cfg.arch)

    def compile_targets(self, net) -> list:
        return [net.g_a, net.g_s, net.h_a, net.h_s]

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
            raise ConfigError(f"--init {p}: neither a train_state.pt nor an exported hyperprior checkpoint")
        if (arch, n, m) != (type(net).__name__, net.N, net.M) or (
                getattr(net, "lambdas", None) is not None and "lambdas" in obj.get("config", {})
                and tuple(obj["config"]["lambdas"]) != tuple(net.lambdas)):
            raise ConfigError(f"--init {p}: holds {arch}(N={n}, M={m}), this run is {type(net).__name__}(N={net.N}, M={net.M})")
        if "model" in obj:
            net.load_state_dict(sd)  # the CDF tables are recomputed at every export
        else:  # an exported file holds no tables: torch's loader (via the codec's)
            from semlink.nn.hyperprior import load_weights

            load_weights(net, {"state_dict": sd, "path": str(p)})
        return {"init": str(path), "init_lambda": lmbda, "init_step": step}

    def optimizers(self, net, cfg) -> list:
        import torch

        main = [p for n, p in net.named_parameters() if not n.endswith(".quantiles") and p.requires_grad]
        aux = [p for n, p in net.named_parameters() if n.endswith(".quantiles") and p.requires_grad]
        return [torch.optim.Adam(main, lr=cfg.lr), torch.optim.Adam(aux, lr=cfg.aux_lr)]

    def prepare(self, net, cfg) -> None:
        if cfg.amp == "bf16":
            autocast_transforms(net, cfg.device)

    def _loss(self, net, x, cfg, level=None) -> dict:
        """The rate-distortion loss of ``x``; the gained architecture draws one level per sample
        (from torch's generator, which the trainer seeds per step) unless ``level`` is given."""
        import torch

        if not self.gained(cfg):
            return self._criterion(cfg)(net(x), x)
        from semlink.nn.gained_hyperprior import rd_loss

        if level is None:
            level = torch.randint(0, net.levels, (x.shape[0],))
        else:
            level = torch.full((x.shape[0],), int(level), dtype=torch.long)
        level = level.to(x.device)
        lam = torch.tensor(net.lambdas, dtype=torch.float32, device=x.device)[level]
        r = rd_loss(net(x, level), x, lam)
        return {"loss": r["loss"], "bpp_loss": r["bpp"], "mse_loss": r["mse"]}

    def train_step(self, net, x, optimizers, cfg) -> dict[str, float]:
        import torch

        opt, aux_opt = optimizers
        opt.zero_grad(set_to_none=True)
        aux_opt.zero_grad(set_to_none=True)
        loss = self._loss(net, x, cfg)
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
        if not self.gained(cfg):
            r = self._criterion(cfg)(net(x), x)
            mse = float(r["mse_loss"])
            return {"loss": float(r["loss"]), "bpp": float(r["bpp_loss"]), "mse": mse,
                    "psnr": 10 * math.log10(1 / max(mse, 1e-10))}
        out: dict[str, float] = {"loss": 0.0}
        for lv in range(net.levels):  # every level; "loss" is their mean
            r = self._loss(net, x, cfg, level=lv)
            mse = float(r["mse_loss"])
            out["loss"] += float(r["loss"]) / net.levels
            out[f"bpp_q{lv + 1}"] = float(r["bpp_loss"])
            out[f"psnr_q{lv + 1}"] = 10 * math.log10(1 / max(mse, 1e-10))
        return out

    def export(self, net, path, cfg, meta) -> None:
        from semlink.nn.hyperprior import export_checkpoint

        if self.gained(cfg):
            export_checkpoint(net, path, meta={"lambdas": list(net.lambdas), **meta})
        else:
            export_checkpoint(net, path, quality=cfg.quality, meta={"lambda": cfg.lmbda, **meta})

    # --- the model zoo -------------------------------------------------------------------
    def loss_description(self, cfg: dict) -> str:
        if cfg.get("arch") == "GainedMeanScaleHyperprior":
            return ("lambda_l * 255^2 * MSE + bpp per sample, its level l drawn uniformly (one network, every lambda); "
                    "noise for the likelihoods, straight-through rounding into the synthesis (mixed quantisation)")
        return "lambda * 255^2 * MSE + bpp (CompressAI RateDistortionLoss)"

    def zoo_entries(self, file, name: str, cfg: dict, quality: int | None) -> list[dict]:
        if cfg.get("arch") == "GainedMeanScaleHyperprior":
            lam = list(self.lambdas_of(cfg))
            return [{"name": name, "codec": "hyperprior", "quality": 0, "qualities": list(range(1, len(lam) + 1)),
                     "lambdas": lam}]
        return [{"name": name, "codec": "hyperprior", "quality": int(quality or cfg.get("quality", 1))}]

    def lambdas_of(self, cfg: dict) -> tuple[float, ...]:
        from semlink.nn.gained_hyperprior import DEFAULT_LAMBDAS

        return tuple(float(v) for v in cfg.get("options", {}).get("lambdas", DEFAULT_LAMBDAS))

    def zoo_test(self, manifest, entries: list[dict]) -> dict[str, dict]:
        """bpp, PSNR, MS-SSIM of every rate point on the ``photos`` set (7 images, every bit counted)."""
        import numpy as np

        from semlink.codecs import get_codec
        from semlink.evaluate import evaluate

        out = {}
        for e in entries:
            codec = get_codec("hyperprior", checkpoint=str(Path(manifest).parent / e["file"]))
            qs = codec.qualities()
            rows = evaluate(codec, "photos", [{"quality": q} for q in qs], ("psnr", "ms_ssim"), require_decoded=True)
            points = {}
            for q in qs:
                rs = [r for r in rows if r["value"] == q]
                points[f"q{q}"] = {"bpp": round(float(np.mean([r["bpp"] for r in rs])), 4),
                                   "psnr_db": round(float(np.mean([r["psnr"] for r in rs])), 3),
                                   "ms_ssim": round(float(np.mean([r["ms_ssim"] for r in rs])), 4)}
            low = points[f"q{qs[0]}"]
            out[e["name"]] = {"test_set": "photos (7 images)", "test_rate_points": points, "test_point": f"q{qs[0]}",
                              "test_bpp": low["bpp"], "test_psnr_db": low["psnr_db"], "test_ms_ssim": low["ms_ssim"]}
        return out


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
