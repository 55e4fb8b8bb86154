"""Conditional multi-scale patch discriminator (pix2pixHD / SPADE style) with feature matching.

Each scale is a PatchGAN (4x4 convolutions, stride 2, spectral normalisation, LeakyReLU 0.2)
that sees the image concatenated with the conditioning map, and returns its intermediate
features (for the feature-matching loss) and a map of patch logits. Scale s sees the input
average-pooled s times by 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """``x`` [B, in_ch, H, W] -> list of features, the last one the patch logits [B, 1, h, w]."""

    def __init__(self, in_ch: int, ch: int = 64, layers: int = 3) -> None:
        super().__init__()
        blocks = [nn.Sequential(nn.Conv2d(in_ch, ch, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))]
        c = ch
        for i in range(1, layers):
            c2 = min(c * 2, 256)
            blocks.append(nn.Sequential(spectral_norm(nn.Conv2d(c, c2, 4, 2 if i < layers - 1 else 1, 1)),
                                        nn.LeakyReLU(0.2, inplace=True)))
            c = c2
        blocks.append(nn.Sequential(spectral_norm(nn.Conv2d(c, 1, 4, 1, 1))))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(x)
        return feats


class MultiScaleDiscriminator(nn.Module):
    """``scales`` patch discriminators on the image + condition at full, 1/2, 1/4 ... resolution.

    ``forward(image [B, 3, H, W], cond [B, C, h, w])`` -> one feature list per scale
    (``cond`` is resized bilinearly to the image size first).
    """

    def __init__(self, cond_ch: int, scales: int = 2, ch: int = 64, layers: int = 3) -> None:
        super().__init__()
        self.nets = nn.ModuleList(PatchDiscriminator(3 + cond_ch, ch, layers) for _ in range(scales))

    def forward(self, image: torch.Tensor, cond: torch.Tensor) -> list[list[torch.Tensor]]:
        if cond.shape[-2:] != image.shape[-2:]:
            cond = F.interpolate(cond, size=image.shape[-2:], mode="bilinear", align_corners=False)
        x = torch.cat([image * 2 - 1, cond], 1)
        out = []
        for i, net in enumerate(self.nets):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            out.append(net(x))
        return out


def hinge_d_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Discriminator hinge loss, mean over scales: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    loss = 0.0
    for r, f in zip(real, fake):
        loss = loss + F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean()
    return loss / len(real)


def hinge_g_loss(fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Generator hinge loss, mean over scales: -E[D(G(z))]."""
    return sum(-f[-1].mean() for f in fake) / len(fake)


def feature_matching_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between the discriminator's intermediate features of real and generated images
    (pix2pixHD), real features detached; mean over scales and layers."""
    loss, n = 0.0, 0
    for r, f in zip(real, fake):
        for a, b in zip(r[:-1], f[:-1]):
            loss = loss + F.l1_loss(b, a.detach())
            n += 1
    return loss / max(n, 1)
