"""``semlink train seb-flow``: self-supervised pre-training of Seb's flow network on video.

DVC (ref. [16] of the Seb paper) starts its inter coder from a pre-trained SpyNet; the v1 Seb
trained its flow from scratch inside the rate-distortion loss, where it collapsed (every image
spent the same 128 motion bits: the flow carried no information). This task trains the same
:class:`~semlink.nn.flow.SpyNetLite` alone, without labels, on pairs of frames of the training
videos (option ``videos``; default the video corpus ``~/.cache/semlink/corpus/video-v1/clips``,
real and synthetic-motion clips, never the evaluation ``clips``):

    L = Charbonnier(warp(reference, flow(target, reference)), target)
        + w_smooth * mean |grad flow| * exp(-|grad target|)            (edge-aware smoothness)

A sample is a pair (frame i, frame i + g), g drawn from 1..``max_gap``, a random ``crop`` window,
random horizontal flip and order swap. The last ``val_fraction`` of every clip's frames is held
out: validation reports the warped PSNR ``psnr_warp`` [dB] against the zero-motion PSNR
``psnr_zero`` (the plain reference), so ``gain_db`` > 0 means the flow predicts the target better
than copying the reference does.

The export ``seb-flow.pt`` (arch ``SpyNetLite``) is what option ``flow_init`` of the ``seb``
task loads into the inter coder's flow network before joint training.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from semlink.train.task import TrainTask, register_task, task_options

FLOW_EXPORT = "seb-flow.pt"
FLOW_ARCH = "SpyNetLite"
FLOW_OPTIONS = {"videos": None, "downscale": 1, "max_frames": 400, "max_gap": 3, "levels": 4, "widths": [32, 16],
                "w_smooth": 0.05}


def _options(cfg) -> dict:
    return task_options(cfg, FLOW_OPTIONS, "seb-flow")


def default_video_dir() -> Path:
    from semlink.cache import cache_dir

    return cache_dir() / "corpus" / "video-v1" / "clips"


class PairSampler:
    """``batch(step)`` -> float32 [B, 6, crop, crop]: target (channels 0-2), reference (3-5)."""

    def __init__(self, videos: list[np.ndarray], crop: int, batch: int, seed: int, max_gap: int) -> None:
        self.videos = [v for v in videos if v.shape[0] > max_gap and min(v.shape[1:3]) >= crop]
        if not self.videos:
            raise ValueError(f"seb-flow: no training video has more than {max_gap} frames of at least {crop}x{crop}")
        self.crop, self.batch_size, self.seed, self.max_gap = int(crop), int(batch), int(seed), int(max_gap)
        w = np.array([v.shape[0] for v in self.videos], float)
        self.weights = w / w.sum()

    def batch(self, step: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, step])
        out = np.empty((self.batch_size, 6, self.crop, self.crop), np.float32)
        for b in range(self.batch_size):
            v = self.videos[int(rng.choice(len(self.videos), p=self.weights))]
            g = int(rng.integers(1, self.max_gap + 1))
            i = int(rng.integers(0, v.shape[0] - g))
            y = int(rng.integers(0, v.shape[1] - self.crop + 1))
            x = int(rng.integers(0, v.shape[2] - self.crop + 1))
            pair = v[[i, i + g], y: y + self.crop, x: x + self.crop].astype(np.float32) / 255
            if rng.random() < 0.5:
                pair = pair[:, :, ::-1]
            if rng.random() < 0.5:
                pair = pair[::-1]
            out[b] = pair.transpose(0, 3, 1, 2).reshape(6, self.crop, self.crop)
        return out


def validation_pairs(videos: list[np.ndarray], crop: int, fraction: float) -> list:
    """Fixed held-out pairs (gap 1 and 3) from the last ``fraction`` of every clip: [1, 6, h, w]."""
    import torch

    out = []
    for v in videos:
        start = int(v.shape[0] * (1 - fraction))
        h, w = min(v.shape[1], 2 * crop) // 16 * 16, min(v.shape[2], 2 * crop) // 16 * 16
        if v.shape[0] - start < 2 or h < 16 or w < 16:
            continue
        y, x = (v.shape[1] - h) // 2, (v.shape[2] - w) // 2
        for g in (1, 3):
            i = start
            if i + g < v.shape[0]:
                pair = v[[i + g, i], y: y + h, x: x + w].astype(np.float32) / 255
                out.append(torch.from_numpy(pair.transpose(0, 3, 1, 2).reshape(6, h, w).copy())[None])
    return out


def _charbonnier(a, b, eps: float = 1e-3):
    import torch

    return torch.sqrt((a - b) ** 2 + eps * eps).mean()


def smoothness(flow, image):
    """Edge-aware first-order smoothness of ``flow`` [B, 2, H, W] (pixels) given ``image`` [B, 3, H, W]."""
    import torch

    def grad(t):
        return t[..., :, 1:] - t[..., :, :-1], t[..., 1:, :] - t[..., :-1, :]

    fx, fy = grad(flow)
    ix, iy = grad(image)
    wx = torch.exp(-ix.abs().mean(1, keepdim=True) * 10)
    wy = torch.exp(-iy.abs().mean(1, keepdim=True) * 10)
    return (fx.abs() * wx).mean() + (fy.abs() * wy).mean()


@register_task("seb-flow")
class SebFlowTask(TrainTask):
    """Seb's flow network (SpyNetLite) pre-trained by photometric warping on video frame pairs."""

    log_columns = ("loss", "photo", "smooth", "psnr_warp", "psnr_zero")
    export_name = FLOW_EXPORT

    def lambda_required(self, cfg) -> bool:
        return False

    def check(self, cfg) -> None:
        o = _options(cfg)
        if cfg.crop % 16:
            raise ValueError(f"--crop must be a multiple of 16, got {cfg.crop}")
        if int(o["max_gap"]) < 1:
            raise ValueError(f"seb-flow: option max_gap must be >= 1, got {o['max_gap']}")
        if float(o["w_smooth"]) < 0:
            raise ValueError(f"seb-flow: option w_smooth must be >= 0, got {o['w_smooth']}")

    def data(self, cfg):
        from semlink.semantic.vqdeepvsc.interp_task import load_videos

        o = _options(cfg)
        d = Path(o["videos"]).expanduser() if o["videos"] else default_video_dir()
        videos = [v for _, v in load_videos(d, int(o["downscale"]), int(o["max_frames"]))]
        frac = cfg.val_fraction if cfg.val_fraction > 0 else 0.1
        train = [v[: int(v.shape[0] * (1 - frac))] for v in videos]
        return PairSampler(train, cfg.crop, cfg.batch, cfg.seed, int(o["max_gap"])), validation_pairs(videos, cfg.crop, frac)

    def build(self, cfg):
        from semlink.nn.flow import SpyNetLite

        o = _options(cfg)
        return SpyNetLite(int(o["levels"]), tuple(o["widths"]))

    def _losses(self, net, x, cfg):
        import torch

        from semlink.nn.flow import warp

        o = _options(cfg)
        target, ref = x[:, 0:3], x[:, 3:6]
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
            flow = net(target, ref)
        flow = flow.float()
        warped = warp(ref, flow)
        photo = _charbonnier(warped, target)
        smooth = smoothness(flow, target)
        loss = photo + float(o["w_smooth"]) * smooth
        mse_w = float(((warped.detach().clamp(0, 1) - target) ** 2).mean())
        mse_0 = float(((ref - target) ** 2).mean())
        return loss, photo, smooth, mse_w, mse_0

    @staticmethod
    def _figures(loss, photo, smooth, mse_w, mse_0) -> dict[str, float]:
        pw, p0 = (10 * math.log10(1 / max(m, 1e-10)) for m in (mse_w, mse_0))
        return {"loss": float(loss), "photo": float(photo), "smooth": float(smooth), "psnr_warp": pw, "psnr_zero": p0}

    def train_step(self, net, x, optimizers, cfg) -> dict[str, float]:
        import torch

        (opt,) = optimizers
        opt.zero_grad(set_to_none=True)
        loss, photo, smooth, mse_w, mse_0 = self._losses(net, x, cfg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        return self._figures(loss.detach(), photo.detach(), smooth.detach(), mse_w, mse_0)

    def evaluate(self, net, x, cfg) -> dict[str, float]:
        figs = self._figures(*self._losses(net, x, cfg))
        return {**figs, "gain_db": figs["psnr_warp"] - figs["psnr_zero"]}

    def export(self, net, path, cfg, meta) -> None:
        import copy

        from semlink.zoo.checkpoints import save_checkpoint

        cpu = copy.deepcopy(net).to("cpu").float().eval()
        save_checkpoint(path, cpu.state_dict(), arch=FLOW_ARCH, config=cpu.config(), meta=dict(meta or {}), half=False)


def load_flow_into(flow_net, path: str | Path) -> dict:
    """Copy a ``seb-flow.pt`` export into ``flow_net`` (a :class:`~semlink.nn.flow.SpyNetLite` of
    the same config); returns facts for the run's metadata. CheckpointError if it does not fit."""
    from semlink.zoo.checkpoints import CheckpointError, read_checkpoint

    ck = read_checkpoint(Path(path).expanduser())
    if ck.get("arch") != FLOW_ARCH:
        raise CheckpointError(f"{path}: architecture {ck.get('arch')!r}, expected {FLOW_ARCH} (a seb-flow export)")
    if ck["config"] != flow_net.config():
        raise CheckpointError(f"{path}: flow network {ck['config']}, the inter coder's is {flow_net.config()}")
    flow_net.load_state_dict(ck["state_dict"])
    return {"flow_init": str(path), "flow_init_step": ck.get("meta", {}).get("step")}
