"""Differentiable perceptual loss from the offline VGG trunk of stlpips-pytorch.

The network is ST-LPIPS (shift-tolerant LPIPS, VGG-16 trunk with anti-aliased pooling and
the learned linear heads), with the weights that ship inside the ``stlpips-pytorch`` wheel:
no ImageNet / hub download. It is the SAME network as semlink's reported perceptual metric
(``st_lpips``) when LPIPS(alex) is not installed, so a model trained on this loss is partly
optimised for that metric (as HiFiC trains on LPIPS and reports it); MS-SSIM and PSNR are the
independent checks. Always named "ST-LPIPS (stlpips-pytorch VGG)", never "LPIPS".
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

NAME = "ST-LPIPS (stlpips-pytorch VGG-16 trunk, shipped weights)"


class PerceptualLoss(nn.Module):
    """``forward(x, y)`` with x, y float [B, 3, H, W] in [0, 1] -> ST-LPIPS distance [B]
    (differentiable w.r.t. both; the network's weights are frozen). ``bf16=True`` runs the
    trunk under bf16 autocast (measured faster on avx512_bf16 CPUs and on CUDA)."""

    def __init__(self, bf16: bool = False) -> None:
        super().__init__()

        self.net = build_st_lpips().eval()
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


VGG_FEATURE_NAME = "VGG-16 feature MSE over 5 layers (eq. 12 of VQ-DeepVSC) on stlpips-pytorch's shift-tolerant VGG-16 trunk (shipped weights, not ImageNet VGG)"


class VGGFeatureLoss(nn.Module):
    """``sum_j mean((phi_j(x) - phi_j(y))^2)`` over the five VGG-16 stages (relu1_2 .. relu5_3)
    of the offline trunk that ships with stlpips-pytorch (the same weights as
    :class:`PerceptualLoss`, without its learned linear heads): VQ-DeepVSC's eq. 12, where
    ``1 / (C_j H_j W_j) ||.||^2`` is the mean over each stage's feature map. x, y float
    [B, 3, H, W] in [0, 1] -> [B]. It is NOT ImageNet VGG-16 (no download is possible)."""

    def __init__(self, bf16: bool = False) -> None:
        super().__init__()

        net = build_st_lpips().eval()
        self.scaling = net.scaling_layer
        self.slices = nn.ModuleList([getattr(net.net, f"slice{i}") for i in range(1, net.L + 1)])
        for p in self.parameters():
            p.requires_grad_(False)
        self.bf16 = bool(bf16)

    def train(self, mode: bool = True):
        super().train(mode)
        self.scaling.eval()
        self.slices.eval()
        return self

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            a, b = self.scaling(x * 2 - 1), self.scaling(y * 2 - 1)
            total = 0.0
            for s in self.slices:
                a, b = s(a), s(b)
                total = total + (a.float() - b.float()).pow(2).mean(dim=(1, 2, 3))
        return total


def build_st_lpips():
    """ST-LPIPS (VGG, shift-tolerant) with the weights shipped in stlpips-pytorch.

    Loads the weights itself (the package loads with ``strict=False``, which would hide a
    missing file) and checks that every parameter was found.
    """
    import torch
    from stlpips_pytorch import stlpips

    net = stlpips.LPIPS(net="vgg", variant="shift_tolerant", pretrained=False, verbose=False)
    path = Path(stlpips.__file__).parent / "weights" / "vST0.0" / "vgg_shift_tolerant.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = net.load_state_dict(state, strict=False)
    # ``lins.k`` are aliases of ``link`` (same modules, stored once in the file).
    missing = [k for k in missing if not k.startswith("lins.")]
    if missing or unexpected:
        raise RuntimeError(f"ST-LPIPS weights mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return net
