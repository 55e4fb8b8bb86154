"""``semlink train vqdeepvsc-ifnet``: the AKEI interpolator (IFNet + FusionNet) on frame triplets.

Samples: from the training videos (option ``videos``: a directory of video files; default the
``opencv-clips`` corpus source, ``semlink data fetch opencv-clips``: vtest.avi, tree.avi), each
decoded once and downscaled by ``downscale`` (area averaging). A sample is a triple of frames
(i, i + k, i + g) with gap g drawn from 2..``max_gap`` and 0 < k < g, so the target time is
t = k / g (the interpolator must serve every gap the key-frame extractor leaves), a random
``crop x crop`` window, random horizontal flip and time reversal. The last ``val_fraction`` of
every video's frames is held out for validation (fixed triples with g = 2, 4; at most
``val_triplets``, default 48, evenly spread over the videos; each is also scored for the linear
blend and OpenCV DIS).

Synthetic motion (option ``synthetic``: the fraction of samples, default 0): two training
videos hold little large motion, so a share of the triples can be made from the photo pack
(``synthetic_data``): a window sliding over a photo with a constant integer velocity of up to
``synthetic_motion`` pixels per frame in x and y (exact ground truth at every t = k / g).

Loss: Charbonnier(F~, F) + 0.5 x (Charbonnier(w0, F) + Charbonnier(w1, F)) (the warped
neighbours, which supervise IFNet's flow directly, as RIFE's warped-frame terms do)
+ ``w_teacher`` x the flow distillation term (default 0, off): RIFE's privileged distillation
with OpenCV DIS as the teacher (:func:`dis_teacher_flows`). DIS sees the true middle frame
(training only), so its flows from it to each neighbour are a target IFNet's flow can learn
from; the L1 distance [pixels] counts only where the teacher's warped neighbour is closer to
the middle frame than IFNet's (RIFE's mask). The receiver is unchanged: IFNet alone.

Evaluation clips (the ``clips`` dataset) are never used: the sources are different files.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from semlink.train.task import TrainTask, register_task, task_options

from .checkpoint import export_interpolator

IF_EXPORT = "vqdeepvsc-ifnet.pt"
IF_OPTIONS = {"videos": None, "downscale": 2, "max_gap": 8, "max_frames": 800, "ifnet_ch": [96, 64, 48],
              "fusion_ch": [16, 32, 48, 64], "w_warp": 0.5, "synthetic": 0.0, "synthetic_data": "folder:corpus/pack-v1",
              "synthetic_motion": 6, "val_triplets": 48, "w_teacher": 0.0}
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".y4m")


def _options(cfg) -> dict:
    return task_options(cfg, IF_OPTIONS, "vqdeepvsc-ifnet")


def default_video_dir() -> Path:
    from semlink.cache import cache_dir

    return cache_dir() / "corpus" / "opencv-clips"


def load_videos(directory, downscale: int, max_frames: int) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 [T, H, W, 3]) of every video file in ``directory``, downscaled by ``downscale``."""
    from PIL import Image

    from semlink.data.clips import read_clip

    d = Path(directory).expanduser()
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES) if d.is_dir() else []
    if not files:
        raise ValueError(f"vqdeepvsc-ifnet: no video files ({', '.join(VIDEO_SUFFIXES)}) in {d}; "
                         "fetch the default source with `semlink data fetch opencv-clips` or set option videos=DIR")
    out = []
    for f in files:
        v = read_clip(f, max_frames)
        if downscale > 1:
            h, w = v.shape[1] // downscale, v.shape[2] // downscale
            v = np.stack([np.asarray(Image.fromarray(fr).resize((w, h), Image.BOX)) for fr in v])
        out.append((f.name, v))
    return out


class TripletSampler:
    """``batch(step)`` -> float32 [B, 10, crop, crop]: f0, target, f1 (3 channels each) and t (constant plane)."""

    def __init__(self, videos, crop: int, batch: int, seed: int, max_gap: int, photos=(), synthetic: float = 0.0,
                 motion: int = 6) -> None:
        self.photos = [p for p in photos if min(p.shape[:2]) >= crop + 2 * max_gap * motion]
        self.synthetic, self.motion = (float(synthetic) if self.photos else 0.0), int(motion)
        self.videos = [v for _, v in videos if v.shape[0] > max_gap and min(v.shape[1:3]) >= crop]
        if not self.videos:
            raise ValueError(f"vqdeepvsc-ifnet: no training video has more than {max_gap} frames of at least {crop}x{crop}")
        self.crop, self.batch_size, self.seed, self.max_gap = crop, batch, seed, max_gap
        self.weights = np.array([v.shape[0] for v in self.videos], float)
        self.weights /= self.weights.sum()

    def batch(self, step: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, step])
        out = np.empty((self.batch_size, 10, self.crop, self.crop), np.float32)
        for b in range(self.batch_size):
            g = int(rng.integers(2, self.max_gap + 1))
            k = int(rng.integers(1, g))
            if self.synthetic > 0 and rng.random() < self.synthetic:
                im = self.photos[int(rng.integers(len(self.photos)))]
                ux, uy = (int(u) for u in rng.integers(-self.motion, self.motion + 1, 2))
                span = g * self.motion
                y0 = int(rng.integers(span, im.shape[0] - self.crop - span + 1))
                x0 = int(rng.integers(span, im.shape[1] - self.crop - span + 1))
                tri = np.stack([im[y0 + j * uy : y0 + j * uy + self.crop, x0 + j * ux : x0 + j * ux + self.crop]
                                for j in (0, k, g)]).astype(np.float32) / 255
            else:
                v = self.videos[rng.choice(len(self.videos), p=self.weights)]
                i = int(rng.integers(0, v.shape[0] - g))
                y = int(rng.integers(0, v.shape[1] - self.crop + 1))
                x = int(rng.integers(0, v.shape[2] - self.crop + 1))
                tri = v[[i, i + k, i + g], y : y + self.crop, x : x + self.crop].astype(np.float32) / 255
            t = k / g
            if rng.random() < 0.5:
                tri = tri[:, :, ::-1]
            if rng.random() < 0.5:
                tri, t = tri[::-1], 1 - t
            out[b, :9] = tri.transpose(0, 3, 1, 2).reshape(9, self.crop, self.crop)
            out[b, 9] = t
        return out


def validation_triplets(videos, crop: int, fraction: float, most: int | None = None) -> list:
    """float32 torch [1, 10, h, w] held-out triplets (g = 2 and 4, t = 1/2) from the last
    ``fraction`` of every video's frames, centre windows of at most 2 x ``crop``; at most
    ``most`` of them, evenly spaced over the list (None: all)."""
    import torch

    out = []
    for _, v in videos:
        start = int(v.shape[0] * (1 - fraction))
        h, w = min(v.shape[1], 2 * crop) // 16 * 16, min(v.shape[2], 2 * crop) // 16 * 16
        y, x = (v.shape[1] - h) // 2, (v.shape[2] - w) // 2
        for g in (2, 4):
            for i in range(start, v.shape[0] - g, max(1, (v.shape[0] - start) // 3)):
                k = g // 2
                tri = v[[i, i + k, i + g], y : y + h, x : x + w].astype(np.float32) / 255
                a = np.concatenate([tri.transpose(0, 3, 1, 2).reshape(9, h, w), np.full((1, h, w), k / g, np.float32)])
                out.append(torch.from_numpy(a)[None])
    if most is not None and len(out) > most:
        out = [out[i] for i in np.linspace(0, len(out) - 1, most).round().astype(int)]
    return out


def dis_teacher_flows(x):
    """float32 [B, 4, H, W] OpenCV DIS flows [pixels] from each triplet's middle frame to its
    previous (channels 0-1) and next frame (2-3), in :func:`.interp.warp`'s convention
    (``warp(f0, flow[:, :2]) ~ middle``); ``x`` is a batch [B, 10, H, W] of the sampler."""
    import torch

    from semlink.nn.flow import dis_flow

    u8 = (x[:, :9].detach().float().cpu().clamp(0, 1) * 255 + 0.5).byte().numpy().transpose(0, 2, 3, 1)
    out = np.empty((x.shape[0], 4, x.shape[2], x.shape[3]), np.float32)
    for b, f in enumerate(u8):
        f0, mid, f1 = f[..., 0:3], f[..., 3:6], f[..., 6:9]
        out[b, 0:2] = dis_flow(mid, f0).transpose(2, 0, 1)  # mid(p) ~ f0(p + flow(p))
        out[b, 2:4] = dis_flow(mid, f1).transpose(2, 0, 1)
    return torch.from_numpy(out).to(x.device)


def distillation(flow, x, w0, w1):
    """RIFE's privileged flow distillation with the DIS teacher: mean L1 [pixels] between IFNet's
    ``flow`` [B, 4, H, W] and :func:`dis_teacher_flows`, where the teacher's warp beats IFNet's."""
    import torch

    from .interp import warp

    target, f0, f1 = x[:, 3:6], x[:, 0:3], x[:, 6:9]
    teacher = dis_teacher_flows(x)
    with torch.no_grad():
        t0, t1 = warp(f0, teacher[:, :2]), warp(f1, teacher[:, 2:4])
        m0 = ((t0 - target).abs().mean(1, keepdim=True) < (w0.detach() - target).abs().mean(1, keepdim=True)).float()
        m1 = ((t1 - target).abs().mean(1, keepdim=True) < (w1.detach() - target).abs().mean(1, keepdim=True)).float()
    d0 = ((flow[:, :2] - teacher[:, :2]).abs().sum(1, keepdim=True) * m0).mean()
    d1 = ((flow[:, 2:4] - teacher[:, 2:4]).abs().sum(1, keepdim=True) * m1).mean()
    return d0 + d1


def _charbonnier(a, b, eps=1e-3):
    import torch

    return torch.sqrt((a - b) ** 2 + eps * eps).mean()


@register_task("vqdeepvsc-ifnet")
class InterpolatorTask(TrainTask):
    """IFNet + FusionNet on frame triplets of the training videos."""

    log_columns = ("loss", "l_out", "l_warp", "l_distill", "psnr")  # l_distill: nan unless w_teacher > 0
    export_name = IF_EXPORT

    def loss_description(self, cfg: dict) -> str:
        from .zoo_facts import LOSS_IFNET

        return LOSS_IFNET

    def zoo_entries(self, file, name: str, cfg: dict, quality: int | None) -> list[dict]:
        return [{"name": name, "codec": "vqdeepvsc", "quality": 0, "role": "interpolator"}]

    def zoo_test(self, manifest, entries: list[dict]) -> dict[str, dict]:
        from pathlib import Path

        from .zoo_facts import interp_test

        return {e["name"]: interp_test(Path(manifest).parent / e["file"]) for e in entries}

    def check(self, cfg) -> None:
        o = _options(cfg)
        if not 2 <= int(o["max_gap"]) <= 32:
            raise ValueError(f"vqdeepvsc-ifnet: option max_gap must be in 2..32, got {o['max_gap']}")
        if cfg.crop % 16:
            raise ValueError(f"--crop must be a multiple of 16, got {cfg.crop}")

    def data(self, cfg):
        o = _options(cfg)
        videos = load_videos(o["videos"] or default_video_dir(), int(o["downscale"]), int(o["max_frames"]))
        frac = cfg.val_fraction if cfg.val_fraction > 0 else 0.1
        train = [(n, v[: int(v.shape[0] * (1 - frac))]) for n, v in videos]
        photos = []
        if float(o["synthetic"]) > 0:
            from semlink.train.data import load_training_images

            photos = [im.data for im in load_training_images(o["synthetic_data"])]
        sampler = TripletSampler(train, cfg.crop, cfg.batch, cfg.seed, int(o["max_gap"]), photos, float(o["synthetic"]),
                                 int(o["synthetic_motion"]))
        return sampler, validation_triplets(videos, cfg.crop, frac, int(o["val_triplets"]))

    def init_from(self, net, path: str) -> dict:
        """``--init``: another run of this task (its directory or ``train_state.pt``) or an
        exported interpolator checkpoint (e.g. the zoo's ``vqdeepvsc-ifnet.pt``)."""
        from .checkpoint import load_interpolator
        from .train_task import init_from_export, init_from_run

        meta = init_from_export(net, path, load_interpolator)
        return meta if meta is not None else init_from_run(net, path, self.name)

    def build(self, cfg):
        from .interp import Interpolator

        o = _options(cfg)
        return Interpolator(tuple(o["ifnet_ch"]), tuple(o["fusion_ch"]))

    def _losses(self, net, x, cfg):
        import torch

        f0, target, f1, t = x[:, 0:3], x[:, 3:6], x[:, 6:9], x[:, 9, 0, 0]
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
            flow, mask, w0, w1 = net.ifnet(f0, f1, t)
            y = net.fusion(f0, f1, flow, mask, w0, w1)
        y, w0, w1 = y.float(), w0.float(), w1.float()
        l_out = _charbonnier(y, target)
        l_warp = _charbonnier(w0, target) + _charbonnier(w1, target)
        mse = float(((y.detach().clamp(0, 1) - target) ** 2).mean())
        return l_out, l_warp, mse, (flow.float(), w0, w1)

    def train_step(self, net, x, optimizers, cfg) -> dict[str, float]:
        o = _options(cfg)
        l_out, l_warp, mse, (flow, w0, w1) = self._losses(net, x, cfg)
        loss = l_out + o["w_warp"] * l_warp
        out = {}
        if float(o["w_teacher"]) > 0:
            l_dist = distillation(flow, x, w0, w1)
            loss = loss + float(o["w_teacher"]) * l_dist
            out["l_distill"] = float(l_dist.detach())
        optimizers[0].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[0].step()
        return {"loss": float(loss.detach()), "l_out": float(l_out.detach()), "l_warp": float(l_warp.detach()),
                **out, "psnr": 10 * math.log10(1 / max(mse, 1e-10))}

    def evaluate(self, net, x, cfg) -> dict[str, float]:
        """Validation on held-out triplets: the network's PSNR [dB] beside two baselines at the
        same t, the linear blend and OpenCV DIS (:func:`.interp.dis_interpolate`, 8-bit frames)."""
        from .interp import dis_interpolate

        l_out, _, mse, _ = self._losses(net, x, cfg)
        blend = ((x[:, 0:3] * (1 - x[:, 9:10]) + x[:, 6:9] * x[:, 9:10]) - x[:, 3:6]).pow(2).mean()
        u8 = (x[:, :9].detach().float().cpu().clamp(0, 1) * 255 + 0.5).byte().numpy().transpose(0, 2, 3, 1)
        dis = float(np.mean([((dis_interpolate(f[..., 0:3], f[..., 6:9], [float(t)])[0] / 255.0
                                - f[..., 3:6] / 255.0) ** 2).mean() for f, t in zip(u8, x[:, 9, 0, 0].tolist())]))
        return {"loss": float(l_out), "psnr": 10 * math.log10(1 / max(mse, 1e-10)),
                "psnr_linear_blend": 10 * math.log10(1 / max(float(blend), 1e-10)),
                "psnr_dis": 10 * math.log10(1 / max(dis, 1e-10))}

    def export(self, net, path, cfg, meta) -> None:
        export_interpolator(net, path, {"options": _options(cfg), **meta})
