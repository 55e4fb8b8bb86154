"""Training task ``seb`` for the shared trainer: the Seb system end to end (Sec. III) and, in the same
run, the DVC-style pair codec ("DL w/ corr.") that shares its inter coder.

Every step draws one *correlated subset*: ``set_size`` random resized crops of one training
image (Sec. IV-A: "16 augmentations ... as image subsets with a certain level of correlation"),
and one rate level i (lambda = LAMBDAS[i]). The loss is

    L = [lambda * MSE(I, I_hat) + (R(S) + R(A) + R(Z^m) + R(Z^r)) / pixels] + beta * L_Reg   (eqs. 5, 9, 10)
        + w_dvc * [lambda * MSE(I_t, I_t_hat) + (R(Z^m) + R(Z^r)) / pixels]                  (pair codec)
        + w_warp * lambda * MSE(warp(reference, flow), I)                                     (ours: flow warm-up)
        + w_ref * lambda * MSE(I_ref, I)                                                      (ours: reference warm-up)

with MSE of images in [0, 1] and rates in bits per pixel (the paper's lambda = 256..2048 on this
scale; we add 64 and 128, see :data:`~.model.LAMBDAS`). One network serves every lambda through
gain units; the level is drawn per step. Entropy-model densities and gains learn ``entropy_lr_scale``
times faster than the transforms (ours: the run is short), and the residual coder's transforms may
start from a hyperprior checkpoint (``residual_init``, e.g. the v2 ``hyperprior-q3`` the shipped model started from), and
its flow network from a self-supervised ``seb-flow`` pre-training (``flow_init``, :mod:`.flow_task`). The gradient reaches the Seb generator through the clustering by
copying (Sec. III-B, :func:`~.model.copy_gradient`). L_Reg is eq. 9, option ``reg``:

* ``"sum"`` (default, the paper): the sum over the set's features of ||F_i - sg(S_i)||^2,
  divided by the set's pixels like every rate of eq. 5 here (the paper's eq. 5 sums bits over
  the set, eq. 9 sums over the set: one common normalisation keeps their ratio). With 32x32
  patches and F_i of c' x 2 x 2 elements this is ``c' * 4 / 1024`` times the mean over
  elements (1/8 for c' = 32);
* ``"mean"`` (v1, the shipped model): the mean over elements, 8x the weight of ``"sum"`` at
  c' = 32.
The pair-codec term uses pairs of crops of the same subset (reference = the even crop, target =
the odd one); at test time its reference is a hyperprior-decoded image of the set.

Options (``[options]`` / ``--set``): see :data:`OPTIONS`.
"""

from __future__ import annotations

import math

import numpy as np

from semlink.train.task import TrainTask, register_task
from semlink.train.task import task_options as _task_options

from .checkpoint import export_seb
from .model import LAMBDAS

EXPORT = "seb.pt"
OPTIONS = {"n": 64, "c": 32, "inter_n": 64, "m_motion": 64, "m_residual": 128, "residual_init": None, "flow_init": None, "entropy_lr_scale": 5.0, "respread_init": False, "set_size": 16, "scale": [0.3, 0.8], "beta": 1.0, "reg": "sum", "w_dvc": 0.5, "pairs": 4,
           "w_warp": 0.1, "w_ref": 0.1, "val_set_size": 8, "val_level": 4}


def _options(cfg) -> dict:
    return _task_options(cfg, OPTIONS, "seb")


class SubsetSampler:
    """Correlated subsets: ``batch(step)`` -> float32 [set_size, 4, crop, crop]; channels 0-2 are
    ``set_size`` random resized square crops (side = uniform(scale) x the shorter image side,
    resized to ``crop``) of ONE randomly chosen image, channel 3 is the rate level (constant)."""

    def __init__(self, images: list[np.ndarray], crop: int, set_size: int, levels: int, seed: int,
                 scale: tuple[float, float] = (0.3, 0.8)) -> None:
        if not images:
            raise ValueError("seb: no training images")
        self.images, self.crop, self.n, self.levels, self.seed = images, int(crop), int(set_size), int(levels), int(seed)
        self.scale = (float(scale[0]), float(scale[1]))

    def subset(self, rng, img: np.ndarray, n: int) -> np.ndarray:
        import cv2

        h, w = img.shape[:2]
        out = np.empty((n, 3, self.crop, self.crop), dtype=np.float32)
        for i in range(n):
            side = max(self.crop // 2, int(rng.uniform(*self.scale) * min(h, w)))
            side = min(side, h, w)
            y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            patch = cv2.resize(img[y: y + side, x: x + side], (self.crop, self.crop), interpolation=cv2.INTER_AREA)
            out[i] = patch.transpose(2, 0, 1) / 255.0
        return out

    def batch(self, step: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int(step)])
        img = self.images[int(rng.integers(len(self.images)))]
        level = int(rng.integers(self.levels))
        x = self.subset(rng, img, self.n)
        lv = np.full((self.n, 1, self.crop, self.crop), level, dtype=np.float32)
        return np.concatenate([x, lv], 1)


def _mse(a, b):
    return (a.float() - b.float()).pow(2).mean()


@register_task("seb")
class SebTask(TrainTask):
    """Seb (set splitting aside): Seb generator + k-means + reference patch generator + DVC inter coder."""

    fixed = ()
    log_columns = ("loss", "bpp", "psnr", "psnr_ref", "seb_bpp", "motion_bpp", "residual_bpp", "reg", "dvc_bpp",
                   "dvc_psnr", "aux_loss", "level")
    export_name = EXPORT

    def loss_description(self, cfg: dict) -> str:
        from .zoo_facts import LOSS

        return LOSS

    def zoo_entries(self, file, name: str, cfg: dict, quality: int | None) -> list[dict]:
        from .zoo_facts import zoo_entries

        return zoo_entries(name)

    def zoo_test(self, manifest, entries: list[dict]) -> dict[str, dict]:
        from .zoo_facts import zoo_test

        return zoo_test(manifest, entries)

    def check(self, cfg) -> None:
        o = _options(cfg)
        if cfg.crop % 64:
            raise ValueError(f"--crop must be a multiple of 64, got {cfg.crop}")
        if int(o["set_size"]) < 2 * int(o["pairs"]):
            raise ValueError(f"seb: option set_size ({o['set_size']}) must be >= 2 x pairs ({o['pairs']})")
        if int(o["val_set_size"]) < 2:
            raise ValueError(f"seb: option val_set_size must be >= 2 (a set and a pair), got {o['val_set_size']}")
        if o["reg"] not in ("sum", "mean"):
            raise ValueError(f"seb: option reg must be 'sum' (eq. 9 as the paper writes it) or 'mean' (v1), got {o['reg']!r}")
        lo, hi = o["scale"]
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"seb: option scale must be [lo, hi] with 0 < lo <= hi <= 1, got {o['scale']}")

    def data(self, cfg):
        from semlink.train.data import load_training_images

        o = _options(cfg)
        images = [im.data for im in load_training_images(cfg.data, cfg.vc2_scale)]
        frac = cfg.val_fraction if cfg.val_fraction > 0 else 0.1
        every = max(2, round(1 / frac))
        val_imgs = images[::every]
        train = [im for i, im in enumerate(images) if i % every]
        sampler = SubsetSampler(train, cfg.crop, int(o["set_size"]), len(LAMBDAS), cfg.seed, tuple(o["scale"]))
        import torch

        vs = SubsetSampler(val_imgs, cfg.crop, int(o["val_set_size"]), len(LAMBDAS), cfg.seed + 7919, tuple(o["scale"]))
        val = []
        for i, img in enumerate(val_imgs):
            x = vs.subset(np.random.default_rng([cfg.seed, 104729, i]), img, int(o["val_set_size"]))
            lv = np.full((x.shape[0], 1, cfg.crop, cfg.crop), int(o["val_level"]), dtype=np.float32)
            val.append(torch.from_numpy(np.concatenate([x, lv], 1)))
        return sampler, val

    def build(self, cfg):
        from .model import SebModel

        o = _options(cfg)
        self._respread = bool(o["respread_init"])
        self._flow_init = str(o["flow_init"]) if o["flow_init"] else None
        net = SebModel(int(o["n"]), int(o["c"]), inter={"n": int(o["inter_n"]), "m_motion": int(o["m_motion"]),
                                                       "m_residual": int(o["m_residual"])})
        if o["residual_init"]:
            init_residual_from_hyperprior(net.inter.residual, str(o["residual_init"]))
        if o["flow_init"]:  # a fresh run; --init loads it again over the initial run's flow (init_from); --resume keeps its own
            from .flow_task import load_flow_into

            load_flow_into(net.inter.flow, str(o["flow_init"]))
        return net

    def init_from(self, net, path: str) -> dict:
        import torch
        from pathlib import Path

        p = Path(path)
        if p.is_dir():
            p = p / "train_state.pt" if (p / "train_state.pt").exists() else p / EXPORT
        obj = torch.load(p, map_location="cpu", weights_only=True)
        sd = obj["model"] if "model" in obj else {k: v.float() if v.is_floating_point() else v
                                                  for k, v in obj["state_dict"].items()}
        from semlink.entropy import load_with_tables

        # a training state keeps its (empty) tables; an exported file's are stored or recomputed
        load_with_tables(net, {"state_dict": sd, "path": str(p)}, update="model" not in obj)
        if self._respread:
            from .model import spread_gains

            spread_gains(net)  # a run started with equal gains: spread its levels (see model.gain_spread)
        facts = {"init": str(path), "init_step": obj.get("step"), "respread_init": bool(self._respread)}
        if self._flow_init:  # an explicit flow_init wins over the initial run's flow network
            from .flow_task import load_flow_into

            facts.update(load_flow_into(net.inter.flow, self._flow_init))
        return facts

    def optimizers(self, net, cfg) -> list:
        import torch

        o = _options(cfg)
        named = [(n, p) for n, p in net.named_parameters() if not n.endswith(".quantiles")]
        fast = [p for n, p in named if "entropy" in n or ".gain." in n or n.startswith("seb_gain.")]
        ids = {id(p) for p in fast}
        main = [p for _, p in named if id(p) not in ids]
        aux = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
        scale = float(o["entropy_lr_scale"])
        return [torch.optim.Adam([{"params": main, "lr_scale": 1.0},
                                  {"params": fast, "lr": cfg.lr * scale, "lr_scale": scale}], lr=cfg.lr),
                torch.optim.Adam(aux, lr=cfg.aux_lr)]

    def _losses(self, net, x, cfg, o, step_seed: int = 0) -> tuple:
        import torch

        img, level = x[:, :3], int(round(float(x[0, 3, 0, 0])))
        lam = float(LAMBDAS[level])
        n, _, h, w = img.shape
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
            out = net(img, level, seed=step_seed)
            k = max(1, min(int(o["pairs"]), n // 2))  # a validation set may hold fewer images
            ref, tgt = img[0: 2 * k: 2], img[1: 2 * k: 2]
            pair = net.inter(ref, tgt, torch.full((k,), level, device=x.device, dtype=torch.long))
        pix = n * h * w
        seb_bpp = out["seb"] / pix
        motion_bpp, residual_bpp = out["motion"].sum() / pix, out["residual"].sum() / pix
        bpp = seb_bpp + out["usage"] / pix + motion_bpp + residual_bpp
        mse = _mse(out["x_hat"], img)
        mse_ref = _mse(out["reference"], img)
        dvc_bpp = (pair["bits_motion"] + pair["bits_residual"]).sum() / (k * h * w)
        dvc_mse = _mse(pair["x_hat"], tgt)
        reg = out["reg_sum"] / (pix if o["reg"] == "sum" else out["reg_elements"])
        loss_seb = lam * mse + bpp + float(o["beta"]) * reg
        loss_dvc = lam * dvc_mse + dvc_bpp
        aux = lam * (float(o["w_warp"]) * (_mse(out["warped"], img) + _mse(pair["warped"], tgt))
                     + float(o["w_ref"]) * mse_ref)
        loss = loss_seb + float(o["w_dvc"]) * loss_dvc + aux
        loss_f = float(loss.detach())
        bpp, mse, mse_ref, seb_bpp, dvc_bpp, dvc_mse = (float(v.detach()) if hasattr(v, "detach") else float(v)
                                                       for v in (bpp, mse, mse_ref, seb_bpp, dvc_bpp, dvc_mse))
        motion_bpp, residual_bpp = float(motion_bpp.detach()), float(residual_bpp.detach())
        figs = {"bpp": float(bpp), "psnr": 10 * math.log10(1 / max(float(mse), 1e-10)),
                "psnr_ref": 10 * math.log10(1 / max(float(mse_ref), 1e-10)), "seb_bpp": float(seb_bpp),
                "motion_bpp": float(motion_bpp), "residual_bpp": float(residual_bpp), "reg": float(reg.detach()),
                "dvc_bpp": float(dvc_bpp), "dvc_psnr": 10 * math.log10(1 / max(float(dvc_mse), 1e-10)),
                "level": level}
        figs["loss"] = loss_f
        return loss, figs

    def train_step(self, net, x, optimizers, cfg) -> dict[str, float]:
        o = _options(cfg)
        net.train()
        loss, figs = self._losses(net, x, cfg, o)
        optimizers[0].zero_grad(set_to_none=True)
        loss.backward()
        import torch

        torch.nn.utils.clip_grad_norm_([p for g in optimizers[0].param_groups for p in g["params"]], 5.0)
        optimizers[0].step()
        aux = net.aux_loss()
        optimizers[1].zero_grad(set_to_none=True)
        aux.backward()
        optimizers[1].step()
        return {**figs, "aux_loss": float(aux.detach())}

    def evaluate(self, net, x, cfg) -> dict[str, float]:
        o = _options(cfg)
        loss, figs = self._losses(net, x, cfg, o)
        return figs

    def export(self, net, path, cfg, meta) -> None:
        export_seb(net, path, {"options": _options(cfg), "lambdas": list(LAMBDAS), **meta})


def init_residual_from_hyperprior(residual, source: str) -> None:
    """Start the residual coder's transforms (g_a, g_s) from a hyperprior checkpoint of the same N / M
    (a zoo name, or a file such as the retired v2 ``hyperprior-q3``): the paper's "same autoencoder structure"
    as the hyperprior baseline [15]. Its entropy model starts fresh (factorized, not the hyperprior's)."""
    from pathlib import Path

    from semlink.zoo.checkpoints import load_checkpoint, read_checkpoint

    path = Path(source).expanduser()
    ck = read_checkpoint(path) if path.is_file() else load_checkpoint(source)
    sd = ck["state_dict"]
    own = residual.state_dict()
    take = {k: v for k, v in sd.items() if k.startswith(("g_a.", "g_s."))}
    bad = [k for k, v in take.items() if k not in own or own[k].shape != v.shape]
    if bad or not take:
        raise ValueError(f"seb: residual_init {source}: transforms do not fit the residual coder "
                         f"(N={residual.g_a[0].out_channels}); mismatched: {bad[:3]}")
    residual.load_state_dict({**own, **take})
