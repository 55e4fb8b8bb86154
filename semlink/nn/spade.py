"""Spatially-adaptive normalisation (SPADE; Park et al., CVPR 2019, eq. 1) and its residual block.

Written from the paper (NVlabs/SPADE is CC BY-NC-SA: read, not copied). Differences from the
paper, chosen for small CPU-trainable generators: the parameter-free normalisation is
GroupNorm (batch statistics are poor with batches of 4-8 crops), and the label map, which
arrives at a coarser resolution than the features, is resized bilinearly (soft one-hot) rather
than by nearest neighbour so that block edges of a coarse map do not print into the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SPADE(nn.Module):
    """``norm(x) * (1 + gamma(seg)) + beta(seg)``.

    Args:
        channels: channels C of the normalised features.
        label_nc: channels of the label map (classes of a one-hot map).
        hidden: channels of the shared convolution that embeds the map.
        groups: GroupNorm groups (at most ``channels``).

    Shapes: ``x`` [B, C, H, W], ``seg`` [B, label_nc, h, w] (any h, w) -> [B, C, H, W].
    """

    def __init__(self, channels: int, label_nc: int, hidden: int = 32, groups: int = 8) -> None:
        super().__init__()
        g = max(1, min(groups, channels))
        while channels % g:
            g -= 1
        self.norm = nn.GroupNorm(g, channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        if seg.shape[-2:] != x.shape[-2:]:
            seg = F.interpolate(seg, size=x.shape[-2:], mode="bilinear", align_corners=False)
        a = self.shared(seg)
        return self.norm(x) * (1 + self.gamma(a)) + self.beta(a)


class SPADEResBlock(nn.Module):
    """SPADE residual block: (SPADE, LeakyReLU, conv3x3) x 2 plus a (SPADE, conv1x1) shortcut
    when the channel count changes. ``x`` [B, cin, H, W], ``seg`` [B, label_nc, h, w] ->
    [B, cout, H, W]."""

    def __init__(self, cin: int, cout: int, label_nc: int, hidden: int = 32) -> None:
        super().__init__()
        mid = min(cin, cout)
        self.norm0 = SPADE(cin, label_nc, hidden)
        self.conv0 = nn.Conv2d(cin, mid, 3, padding=1)
        self.norm1 = SPADE(mid, label_nc, hidden)
        self.conv1 = nn.Conv2d(mid, cout, 3, padding=1)
        self.learned_skip = cin != cout
        if self.learned_skip:
            self.norm_s = SPADE(cin, label_nc, hidden)
            self.conv_s = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        dx = self.conv0(F.leaky_relu(self.norm0(x, seg), 0.2))
        dx = self.conv1(F.leaky_relu(self.norm1(dx, seg), 0.2))
        skip = self.conv_s(self.norm_s(x, seg)) if self.learned_skip else x
        return skip + dx
