"""Training tasks of gan-c2f for the shared trainer (``semlink train gan-c2f-base|gan-c2f-enh``).

``gan-c2f-base`` trains the base layer (:class:`~.model.BaseLayer`) in two phases, chosen by
the option ``phase``:

* ``"rd"`` (warm start; GAN training from scratch is unstable): ``lambda * 255^2 * MSE + bpp``;
* ``"gan"`` (``--init`` from the rd run): ``lambda * 255^2 * MSE * w_mse + w_rate * bpp
  + w_perc * ST-LPIPS + w_gan * hinge_G + w_fm * feature matching``, with a conditional
  two-scale patch discriminator (:mod:`semlink.nn.discriminator`) trained by the hinge loss.

``bpp`` is the entropy bottleneck's estimate for the channels kept (nested levels: ``keep`` is
drawn per sample from the base levels). The semantic map of each crop comes from the model's
k-means centres, which are fitted on the training images when the network is built (option
``map_features``: ``"colour"``, v1, or ``"vgg16"``, ImageNet VGG-16 relu5_3; see
:mod:`.semantic_map`).

``gan-c2f-enh`` trains the enhancement layer (a MeanScaleHyperprior on the residual) behind a
FROZEN base layer (option ``base``: an exported ``gan-c2f-base.pt``): ``lambda * 255^2 *
MSE(x, base + r_hat) + bpp_enh (+ w_perc * ST-LPIPS)``; option ``conditional = true`` (v2)
lets it see the base image on both sides (:func:`.model.build_enhancement`). ``--init`` may name a hyperprior
checkpoint of the same N/M (e.g. the retired v2 ``hyperprior-q1``, see ``recipes/enh-e1.toml``) to start from.

Options (``[options]`` in a recipe, ``--set key=value`` on the command line) are listed in
:data:`BASE_OPTIONS` / :data:`ENH_OPTIONS` with their defaults.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from semlink.train.task import TrainTask, register_task, train_modules
from semlink.train.task import task_options as _options

from .checkpoint import BASE_ARCH, ENH_ARCH, export_base, export_enhancement, load_base

BASE_EXPORT = "gan-c2f-base.pt"
ENH_EXPORT = "gan-c2f-enh.pt"

BASE_OPTIONS = {"phase": "rd", "k": 8, "c_latent": 8, "n": 96, "widths": [128, 96, 64, 48, 32], "hidden": 32,
                "levels": [4, 8], "block": 16, "map_features": "colour", "w_mse": 1.0, "w_rate": 1.0, "w_perc": 1.0, "w_gan": 0.15, "w_fm": 1.0,
                "d_lr": 1e-4, "d_channels": 64}
ENH_OPTIONS = {"base": None, "n": 64, "m": 128, "w_perc": 0.0, "conditional": False}


@register_task("gan-c2f-base")
class GanC2FBaseTask(TrainTask):
    """gan-c2f base layer: encoder + entropy bottleneck + SPADE generator (option phase = rd | gan)."""

    fixed = ("lmbda",)
    log_columns = ("loss", "bpp", "mse", "psnr", "perc", "g_gan", "fm", "d_loss", "aux_loss")
    export_name = BASE_EXPORT

    def loss_description(self, cfg: dict) -> str:
        from .zoo_facts import LOSS_BASE

        return LOSS_BASE

    def zoo_entries(self, file, name: str, cfg: dict, quality: int | None) -> list[dict]:
        return [{"name": name, "codec": "gan-c2f", "quality": 0, "role": "base"}]

    def zoo_test(self, manifest, entries: list[dict]) -> dict[str, dict]:
        from .zoo_facts import zoo_test

        return zoo_test(manifest, entries)

    def __init__(self) -> None:
        self._perc = None

    def check(self, cfg) -> None:
        o = _options(cfg, BASE_OPTIONS, self.name)
        if o["phase"] not in ("rd", "gan"):
            raise ValueError(f"{self.name}: option phase must be 'rd' or 'gan', got {o['phase']!r}")
        if not cfg.lmbda > 0:
            raise ValueError(f"--lambda must be > 0, got {cfg.lmbda}")
        if o["block"] != 16:
            raise ValueError(f"{self.name}: option block must be 16 (the base latent's resolution), got {o['block']}")
        if cfg.crop % 64:
            raise ValueError(f"--crop must be a multiple of 64, got {cfg.crop}")
        from .semantic_map import check_features

        try:
            check_features(o["map_features"], o["block"])
        except ValueError as exc:
            raise ValueError(f"{self.name}: option {exc}") from None

    def build(self, cfg):
        import torch

        from semlink.nn.discriminator import MultiScaleDiscriminator

        from .model import BaseLayer

        o = _options(cfg, BASE_OPTIONS, self.name)
        base = BaseLayer(o["k"], o["c_latent"], o["n"], tuple(o["widths"]), o["hidden"], tuple(o["levels"]), o["map_features"])
        with torch.no_grad():
            base.centres.copy_(torch.from_numpy(self._centres(cfg, o)))
        disc = MultiScaleDiscriminator(o["k"], scales=2, ch=o["d_channels"])
        return train_modules(base=base, disc=disc)

    @staticmethod
    def _centres(cfg, o) -> np.ndarray:
        """The map's centres fitted on the training data; kept in the run folder
        (``map_centres.npz``, with the data, seed and map options they were fitted with) so that
        a resumed run does not fit them again (minutes for VGG-16)."""
        from semlink.train.data import load_training_images

        from .semantic_map import VGG_MARGIN, fit_centres

        path = Path(cfg.out).expanduser() / "map_centres.npz"
        margin = f"|margin{VGG_MARGIN}" if o["map_features"] == "vgg16" else ""
        key = f"{cfg.data}|{cfg.vc2_scale}|{cfg.seed}|{o['k']}|{o['block']}|{o['map_features']}{margin}"
        if path.is_file():
            with np.load(path) as f:
                if str(f["key"]) == key:
                    return f["centres"]
        images = [im.data for im in load_training_images(cfg.data, cfg.vc2_scale)]
        c = fit_centres(images, o["k"], o["block"], seed=cfg.seed, features=o["map_features"])
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, centres=c, key=np.array(key))
        return c

    def init_from(self, net, path: str) -> dict:
        """Weights of another gan-c2f-base run (directory, train_state.pt or gan-c2f-base.pt)."""
        import torch

        p = Path(path)
        if p.is_dir():
            p = p / "train_state.pt" if (p / "train_state.pt").exists() else p / BASE_EXPORT
        obj = torch.load(p, map_location="cpu", weights_only=True)
        if "model" in obj:
            sd = {k[len("base."):]: v for k, v in obj["model"].items() if k.startswith("base.")}
            net.base.load_state_dict(sd)
            step = obj["step"]
        elif obj.get("arch") == BASE_ARCH:  # an exported file (its tables stored or recomputed)
            from semlink.entropy import load_with_tables

            sd = {k: v.float() if v.is_floating_point() else v for k, v in obj["state_dict"].items()}
            load_with_tables(net.base, {"state_dict": sd, "path": str(p)})
            step = obj.get("meta", {}).get("step")
        else:
            raise ValueError(f"--init {p}: not a gan-c2f-base run or checkpoint")
        return {"init": str(path), "init_step": step}

    def optimizers(self, net, cfg) -> list:
        import torch

        o = _options(cfg, BASE_OPTIONS, self.name)
        main = [p for n, p in net.base.named_parameters() if not n.endswith(".quantiles")]
        aux = [p for n, p in net.base.named_parameters() if n.endswith(".quantiles")]
        betas = (0.5, 0.999) if o["phase"] == "gan" else (0.9, 0.999)
        return [torch.optim.Adam(main, lr=cfg.lr, betas=betas), torch.optim.Adam(aux, lr=cfg.aux_lr),
                torch.optim.Adam(net.disc.parameters(), lr=o["d_lr"], betas=(0.5, 0.999))]

    def _perceptual(self, cfg):
        if self._perc is None:
            from semlink.nn.perceptual import PerceptualLoss

            self._perc = PerceptualLoss(bf16=cfg.amp == "bf16").to(cfg.device)
        return self._perc

    def _inputs(self, net, x, cfg, o, train: bool):
        import torch

        from .semantic_map import crop_labels, one_hot

        labels = crop_labels(x, net.base.centres.cpu().numpy(), o["block"], net.base.map_features)
        seg = one_hot(labels, o["k"]).to(x.device)
        levels = torch.tensor(o["levels"])
        if train:
            keep = levels[torch.randint(len(levels), (x.shape[0],))]
        else:
            keep = torch.full((x.shape[0],), int(levels[-1]))
        return seg, keep.to(x.device)

    def _forward(self, net, x, seg, keep, cfg):
        import torch

        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
            out = net.base(x, seg, keep)
        out["x_hat"] = out["x_hat"].float()
        return out

    def train_step(self, net, x, optimizers, cfg) -> dict[str, float]:
        import torch

        from semlink.nn.discriminator import feature_matching_loss, hinge_d_loss, hinge_g_loss

        o = _options(cfg, BASE_OPTIONS, self.name)
        opt, aux_opt, d_opt = optimizers
        seg, keep = self._inputs(net, x, cfg, o, train=True)
        out = self._forward(net, x, seg, keep, cfg)
        x_hat = out["x_hat"]
        n_px = x.shape[0] * x.shape[2] * x.shape[3]
        bpp = out["bits"].float().sum() / n_px
        mse = torch.mean((x_hat - x) ** 2)
        figs = {"perc": math.nan, "g_gan": math.nan, "fm": math.nan, "d_loss": math.nan}
        if o["phase"] == "rd":
            loss = cfg.lmbda * 255**2 * mse + bpp
        else:
            perc = self._perceptual(cfg)(x_hat, x).mean()
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
                fake = net.disc(x_hat, seg)
                with torch.no_grad():
                    real = net.disc(x, seg)
            g_gan = hinge_g_loss(fake).float()
            fm = feature_matching_loss(real, fake).float()
            loss = (cfg.lmbda * 255**2 * mse * o["w_mse"] + o["w_rate"] * bpp + o["w_perc"] * perc
                    + o["w_gan"] * g_gan + o["w_fm"] * fm)
            figs.update(perc=float(perc.detach()), g_gan=float(g_gan.detach()), fm=float(fm.detach()))
        opt.zero_grad(set_to_none=True)
        aux_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.base.parameters(), 1.0)
        opt.step()
        aux = net.base.aux_loss()
        aux.backward()
        aux_opt.step()
        if o["phase"] == "gan":
            d_opt.zero_grad(set_to_none=True)
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
                d_loss = hinge_d_loss(net.disc(x, seg), net.disc(x_hat.detach(), seg)).float()
            d_loss.backward()
            d_opt.step()
            figs["d_loss"] = float(d_loss.detach())
        m = float(mse.detach())
        return {"loss": float(loss.detach()), "bpp": float(bpp.detach()), "mse": m,
                "psnr": 10 * math.log10(1 / max(m, 1e-10)), "aux_loss": float(aux.detach()), **figs}

    def evaluate(self, net, x, cfg) -> dict[str, float]:
        o = _options(cfg, BASE_OPTIONS, self.name)
        seg, keep = self._inputs(net, x, cfg, o, train=False)
        out = self._forward(net, x, seg, keep, cfg)
        bpp = float(out["bits"].sum()) / (x.shape[2] * x.shape[3])
        mse = float(((out["x_hat"] - x) ** 2).mean())
        perc = float(self._perceptual(cfg)(out["x_hat"], x).mean())
        loss = cfg.lmbda * 255**2 * mse + bpp + (o["w_perc"] * perc if o["phase"] == "gan" else 0.0)
        return {"loss": loss, "bpp": bpp, "mse": mse, "psnr": 10 * math.log10(1 / max(mse, 1e-10)), "st_lpips": perc}

    def export(self, net, path, cfg, meta) -> None:
        o = _options(cfg, BASE_OPTIONS, self.name)
        export_base(net.base, path, meta={"lambda": cfg.lmbda, "phase": o["phase"], "options": o, **meta})


@register_task("gan-c2f-enh")
class GanC2FEnhTask(TrainTask):
    """gan-c2f enhancement layer: residual MeanScaleHyperprior behind a frozen base (option base = FILE)."""

    fixed = ("lmbda",)
    log_columns = ("loss", "bpp", "mse", "psnr", "base_psnr", "aux_loss")
    export_name = ENH_EXPORT

    def loss_description(self, cfg: dict) -> str:
        from .zoo_facts import LOSS_ENH

        return LOSS_ENH

    def zoo_entries(self, file, name: str, cfg: dict, quality: int | None) -> list[dict]:
        from semlink.errors import ConfigError

        if not quality:
            raise ConfigError("gan-c2f-enh: give --quality N (the enhancement layer's number, 1 for e1)")
        return [{"name": name, "codec": "gan-c2f", "quality": int(quality), "role": "enhancement",
                 "base": "gan-c2f-base"}]

    def zoo_test(self, manifest, entries: list[dict]) -> dict[str, dict]:
        from .zoo_facts import zoo_test

        return zoo_test(manifest, entries)

    def __init__(self) -> None:
        self._base = None
        self._perc = None

    def check(self, cfg) -> None:
        o = _options(cfg, ENH_OPTIONS, self.name)
        if not o["base"]:
            raise ValueError(f"{self.name}: option base (a gan-c2f-base.pt checkpoint) is required")
        if not Path(o["base"]).expanduser().is_file():
            raise ValueError(f"{self.name}: option base: no such file {o['base']}")
        if not cfg.lmbda > 0:
            raise ValueError(f"--lambda must be > 0, got {cfg.lmbda}")

    def _frozen_base(self, cfg):
        if self._base is None:
            o = _options(cfg, ENH_OPTIONS, self.name)
            self._base = load_base(str(Path(o["base"]).expanduser())).to(cfg.device)
            for p in self._base.parameters():
                p.requires_grad_(False)
        return self._base

    def build(self, cfg):
        from .model import build_enhancement

        o = _options(cfg, ENH_OPTIONS, self.name)
        return build_enhancement(o["n"], o["m"], conditional=bool(o["conditional"]))

    def init_from(self, net, path: str) -> dict:
        """Weights of a hyperprior (same N/M) or of another gan-c2f-enh run; a conditional layer
        started from a plain one (a hyperprior, or an unconditional enhancement layer) takes its
        weights, with zero weights on the base channels of its analysis and an identity fusion."""
        import torch

        from semlink.train.hyperprior_task import HyperpriorTask

        from .model import build_enhancement, is_conditional

        p = Path(path)
        if p.is_dir() and (p / ENH_EXPORT).exists() and not (p / "train_state.pt").exists():
            p = p / ENH_EXPORT
        obj = torch.load(p if not p.is_dir() else p / "train_state.pt", map_location="cpu", weights_only=True)
        if "model" in obj and obj.get("config", {}).get("model") == self.name:
            net.load_state_dict(obj["model"])
            return {"init": str(path), "init_step": obj["step"]}
        enh_file = obj.get("arch") == ENH_ARCH
        if enh_file and bool(obj.get("config", {}).get("conditional")) == is_conditional(net):
            from semlink.nn.hyperprior import load_weights

            sd = {k: v.float() if v.is_floating_point() else v for k, v in obj["state_dict"].items()}
            load_weights(net, {"state_dict": sd, "path": str(p)})
            return {"init": str(path)}
        if not is_conditional(net):
            return HyperpriorTask.init_from(HyperpriorTask(), net, str(p))
        plain = build_enhancement(net.N, net.M)
        meta = self.init_from(plain, str(p)) if enh_file else HyperpriorTask.init_from(HyperpriorTask(), plain, str(p))
        sd = plain.state_dict()
        w = sd["g_a.0.weight"]
        sd["g_a.0.weight"] = torch.cat([w, torch.zeros_like(w)], 1)
        missing, unexpected = net.load_state_dict(sd, strict=False)
        if unexpected or any(not k.startswith("fuse.") for k in missing):
            raise ValueError(f"--init {p}: does not fit the conditional enhancement layer ({missing}, {unexpected})")
        return meta

    def optimizers(self, net, cfg) -> list:
        from semlink.train.hyperprior_task import HyperpriorTask

        return HyperpriorTask.optimizers(HyperpriorTask(), net, cfg)

    def prepare(self, net, cfg) -> None:
        if cfg.amp == "bf16":
            from semlink.train.hyperprior_task import autocast_transforms

            autocast_transforms(net, cfg.device)

    def _base_out(self, x, cfg, train: bool):
        import torch

        base = self._frozen_base(cfg)
        from .semantic_map import crop_labels, one_hot

        labels = crop_labels(x, base.centres.cpu().numpy(), 16, base.map_features)
        seg = one_hot(labels, base.k).to(x.device)
        levels = torch.tensor(base.levels)
        keep = levels[torch.randint(len(levels), (x.shape[0],))] if train else torch.full((x.shape[0],), int(levels[-1]))
        with torch.no_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
            y = base.g_a(x)
            med = base.entropy_bottleneck._get_medians().reshape(1, -1, 1, 1)
            y_hat = (torch.round(y - med) + med) * base.channel_mask(keep.to(x.device))
            xb = base.generator(y_hat, seg)
        return xb.float()

    def _loss(self, net, x, xb, cfg):
        import torch

        from .model import enhancement_input, enhancement_output

        o = _options(cfg, ENH_OPTIONS, self.name)
        out = net(enhancement_input(net, x, xb))
        x_hat = enhancement_output(net, out["x_hat"], xb).clamp(0, 1)
        n_px = x.shape[0] * x.shape[2] * x.shape[3]
        bpp = sum(torch.log2(v.clamp_min(1e-9)).sum() for v in out["likelihoods"].values()) / (-n_px)
        mse = torch.mean((x_hat - x) ** 2)
        loss = cfg.lmbda * 255**2 * mse + bpp
        if o["w_perc"] > 0:
            if self._perc is None:
                from semlink.nn.perceptual import PerceptualLoss

                self._perc = PerceptualLoss(bf16=cfg.amp == "bf16").to(cfg.device)
            loss = loss + o["w_perc"] * self._perc(x_hat, x).mean()
        return loss, bpp, mse, x_hat

    def train_step(self, net, x, optimizers, cfg) -> dict[str, float]:
        import torch

        opt, aux_opt = optimizers
        xb = self._base_out(x, cfg, train=True)
        opt.zero_grad(set_to_none=True)
        aux_opt.zero_grad(set_to_none=True)
        loss, bpp, mse, _ = self._loss(net, x, xb, cfg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        aux = net.aux_loss()
        aux.backward()
        aux_opt.step()
        m, mb = float(mse.detach()), float(torch.mean((xb - x) ** 2))
        return {"loss": float(loss.detach()), "bpp": float(bpp.detach()), "mse": m,
                "psnr": 10 * math.log10(1 / max(m, 1e-10)), "base_psnr": 10 * math.log10(1 / max(mb, 1e-10)),
                "aux_loss": float(aux.detach())}

    def evaluate(self, net, x, cfg) -> dict[str, float]:
        xb = self._base_out(x, cfg, train=False)
        loss, bpp, mse, _ = self._loss(net, x, xb, cfg)
        m = float(mse)
        return {"loss": float(loss), "bpp": float(bpp), "mse": m, "psnr": 10 * math.log10(1 / max(m, 1e-10))}

    def export(self, net, path, cfg, meta) -> None:
        from semlink.zoo.checkpoints import sha256_file

        o = _options(cfg, ENH_OPTIONS, self.name)
        export_enhancement(net, path, meta={"lambda": cfg.lmbda, "base_sha256": sha256_file(Path(o["base"]).expanduser()), "options": o,
                                            "quality": cfg.quality, **meta})
