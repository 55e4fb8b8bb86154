"""Optical flow and warping: backward warping and a small SpyNet-style pyramid flow network.

:class:`SpyNetLite` follows SpyNet (Ranjan & Black, CVPR 2017, ref. [17] of the Seb paper): a
coarse-to-fine pyramid where each level's network sees the target, the reference warped by the
upsampled coarser flow, and that flow, and predicts a flow *increment*. Differences from the
paper, chosen for a model trained from scratch on 2 CPU cores: 5x5 kernels and widths
32-16 per level instead of 7x7 and 32-64-32-16, and no supervised pre-training on flow
ground truth (it learns from the warping / rate-distortion losses of the codec that uses it,
as DVC's flow net is fine-tuned). Written from the paper (not copied).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def dis_flow(frame, other):
    """Classical optical flow, OpenCV DIS (preset MEDIUM) on the grey images: float32 [H, W, 2]
    (dx, dy) [pixels] with ``frame(p) ~ other(p + flow(p))`` (:func:`warp`'s convention), for
    uint8 RGB frames [H, W, 3]. The classical reference and teacher of the learned flows."""
    import cv2
    import numpy as np

    a = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(np.ascontiguousarray(other), cv2.COLOR_RGB2GRAY)
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: ``out(p) = x(p + flow(p))`` (bilinear, border padding).

    Args:
        x: [B, C, H, W].
        flow: [B, 2, H, W] in pixels, channel 0 = dx (to the right), 1 = dy (down).

    Returns:
        [B, C, H, W].
    """
    b, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device, dtype=x.dtype),
                            torch.arange(w, device=x.device, dtype=x.dtype), indexing="ij")
    flow = flow.to(x.dtype)
    gx = (xs[None] + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys[None] + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return F.grid_sample(x, torch.stack([gx, gy], dim=-1), mode="bilinear", padding_mode="border", align_corners=True)


class _Level(nn.Module):
    """One pyramid level: [target, warped reference, flow] (8 channels) -> flow increment (2)."""

    def __init__(self, widths: tuple[int, ...] = (32, 16), k: int = 5) -> None:
        super().__init__()
        layers, cin = [], 8
        for w in widths:
            layers += [nn.Conv2d(cin, w, k, 1, k // 2), nn.ReLU(inplace=True)]
            cin = w
        layers.append(nn.Conv2d(cin, 2, k, 1, k // 2))
        self.net = nn.Sequential(*layers)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x):
        return self.net(x)


class SpyNetLite(nn.Module):
    """Pyramid flow ``flow(target, reference)`` such that ``warp(reference, flow) ~ target``.

    Args:
        levels: pyramid levels (the coarsest works at 1 / 2^(levels - 1) of the input size).
        widths: hidden widths of each level's network.

    Shapes: target, reference [B, 3, H, W] in [0, 1], H and W multiples of 2^(levels - 1)
    -> flow [B, 2, H, W] in pixels.
    """

    def __init__(self, levels: int = 4, widths: tuple[int, ...] = (32, 16)) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.levels = int(levels)
        self.widths = tuple(int(w) for w in widths)
        self.nets = nn.ModuleList([_Level(self.widths) for _ in range(self.levels)])

    def config(self) -> dict:
        return {"levels": self.levels, "widths": list(self.widths)}

    def forward(self, target: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        tp, rp = [target], [reference]
        for _ in range(self.levels - 1):
            tp.insert(0, F.avg_pool2d(tp[0], 2))
            rp.insert(0, F.avg_pool2d(rp[0], 2))
        b, _, h, w = tp[0].shape
        flow = target.new_zeros(b, 2, h, w)
        for i, net in enumerate(self.nets):
            if i:
                flow = 2.0 * F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=False)
            warped = warp(rp[i], flow)
            flow = flow + net(torch.cat([tp[i], warped, flow], 1))
        return flow
