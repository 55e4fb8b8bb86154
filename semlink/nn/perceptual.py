"""Differentiable perceptual loss from the offline VGG trunk of stlpips-pytorch.

The network is ST-LPIPS (shift-tolerant LPIPS, VGG-16 trunk with anti-aliased pooling and
the learned linear heads), with the weights that ship inside the ``stlpips-pytorch`` wheel:
no ImageNet / hub download. It is the SAME network as semlink's reported perceptual metric
(``st_lpips``) when LPIPS(alex) is not installed, so a model trained on this loss is partly
optimised for that metric (as HiFiC trains on LPIPS and reports it); MS-SSIM and PSNR are the
independent checks. Always named "ST-LPIPS (stlpips-pytorch VGG)", never "LPIPS".
"""

from __future__ import annotations

import torch
from torch import nn

NAME = "ST-LPIPS (stlpips-pytorch VGG-16 trunk, shipped weights)"


class PerceptualLoss(nn.Module):
    """``forward(x, y)`` with x, y float [B, 3, H, W] in [0, 1] -> ST-LPIPS distance [B]
    (differentiable w.r.t. both; the network's weights are frozen). ``bf16=True`` runs the
    trunk under bf16 autocast (measured faster on avx512_bf16 CPUs and on CUDA)."""

    def __init__(self, bf16: bool = False) -> None:
        super().__init__()
        from semlink.simulator.metrics import _build_st_lpips

        self.net = _build_st_lpips().eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.bf16 = bool(bf16)

    def train(self, mode: bool = True):  # the trunk always stays in eval mode
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        kind = x.device.type
        with torch.autocast(kind, dtype=torch.bfloat16, enabled=self.bf16):
            d = self.net(x * 2 - 1, y * 2 - 1)
        return d.float().reshape(-1)
