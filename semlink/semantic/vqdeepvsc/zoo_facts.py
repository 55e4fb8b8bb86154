"""What ``semlink zoo add`` records for VQ-DeepVSC files (roles "msvq" and "interpolator") and
their test figures on the ``clips`` evaluation set (16 frames at 240x320, never trained on): the
MSVQ's key-frame PSNR / MS-SSIM per channel count and bits per pixel; the interpolator's PSNR at
t = 0.5 against the linear blend and OpenCV's DIS."""

from __future__ import annotations

from pathlib import Path

import numpy as np

_TRUNKS = {"imagenet": "torchvision's ImageNet VGG-16, offline", "stlpips": "stlpips-pytorch's shift-tolerant VGG-16 trunk, not ImageNet VGG"}


def msvq_loss(trunk: str) -> str:
    """The MSVQ's training loss in words, for the VGG-16 of option ``perceptual_trunk``."""
    return (f"MSE + lambda * VGG feature loss (eq. 12; {_TRUNKS[trunk]}) "
            "+ mu1 * commitment (EMA codebook, k-means init, dead-code restarts replace eq. 13's codebook term) "
            "+ mu2 * log-loss GAN (eq. 14, patch discriminator, from gan_start)")


#: the loss of the shipped (v1) MSVQ
LOSS_MSVQ = msvq_loss("stlpips")
LOSS_IFNET = ("Charbonnier(F~, F) + w_warp * Charbonnier(warped neighbours, F)"
              " + w_teacher * masked L1(IFNet flow, OpenCV DIS flow from the true middle frame) (RIFE-style distillation; off at 0)")


def _clips():
    from semlink.data import get_dataset

    return [(it.name, it.data) for it in get_dataset("clips", max_frames=16, size=264, crop=(240, 320))]


def msvq_test(path: Path) -> dict:
    import torch

    from semlink.semantic.vqdeepvsc.checkpoint import load_msvq
    from semlink.semantic.vqdeepvsc.msvq import perplexity
    from semlink.simulator import metrics

    m = load_msvq(path)
    out = {}
    frames = np.concatenate([c[::3] for _, c in _clips()])  # every third frame of every clip
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        idx = torch.cat([m.encode_indices(x[i : i + 4]) for i in range(0, len(x), 4)])
        for k in m.levels:
            y = torch.cat([m.decode_indices(idx[i : i + 4, :k], k) for i in range(0, len(x), 4)])
            rec = (y.permute(0, 2, 3, 1).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
            out[f"c{k}"] = {"bpp": round(k * m.bits_per_index / m.factor**2, 4),
                            "psnr_db": round(float(np.mean([metrics.psnr(a, b) for a, b in zip(frames, rec)])), 3),
                            "ms_ssim": round(float(np.mean([metrics.ms_ssim(a, b) for a, b in zip(frames, rec)])), 4),
                            "perplexity": round(perplexity(idx[:, :k], m.L), 1),
                            "codes_used": int(torch.unique(idx[:, :k]).numel())}
    k = 3 if "c3" in out else m.levels[0]
    return {"test_set": f"clips (bikes, bigbuckbunny, carphone; 16 frames at 240x320, every third: {len(frames)} frames)",
            "test_key_frames": out, "test_point": f"c{k} (the channel count BCR 0.023 gives at 16 key frames of 16)",
            "test_bpp": out[f"c{k}"]["bpp"], "test_psnr_db": out[f"c{k}"]["psnr_db"], "test_ms_ssim": out[f"c{k}"]["ms_ssim"]}


def interp_rows(path: Path) -> list[dict]:
    """One row per evaluation clip and pair (i, i + 2): PSNR [dB] of the middle frame at t = 0.5
    for the interpolator ``path``, OpenCV DIS and the linear blend."""
    from semlink.semantic.vqdeepvsc.checkpoint import load_interpolator
    from semlink.semantic.vqdeepvsc.interp import dis_interpolate, learned_interpolate
    from semlink.simulator import metrics

    net = load_interpolator(path)
    rows = []
    for name, c in _clips():
        for i in range(0, c.shape[0] - 2, 2):
            a, t, b = c[i], c[i + 1], c[i + 2]
            rows.append({"clip": name, "frame": i + 1,
                         "learned": round(metrics.psnr(t, learned_interpolate(net, a, b, [0.5])[0]), 4),
                         "dis": round(metrics.psnr(t, dis_interpolate(a, b, [0.5])[0]), 4),
                         "linear_blend": round(metrics.psnr(t, ((a.astype(np.uint16) + b + 1) // 2).astype(np.uint8)), 4)})
    return rows


def interp_test(path: Path) -> dict:
    rows = interp_rows(path)
    out = {k: round(float(np.mean([r[k] for r in rows])), 3) for k in ("learned", "dis", "linear_blend")}
    return {"test_set": "clips (16 frames at 240x320): middle frame of every (i, i+2) pair",
            "test_psnr_db_t0.5": out, "test_psnr_db": out["learned"]}
