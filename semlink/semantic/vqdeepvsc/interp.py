"""Frame interpolation of VQ-DeepVSC's AKEI (Sec. III): IFNet + FusionNet, and a classical variant.

* :class:`IFNet` (Sec. III-A.1): three IFBlocks at down-sampling factors alpha = 4, 2, 1
  (coarse to fine) estimate the optical flow O of the intermediate frame at time t in (0, 1)
  directly from its neighbours: 4 channels (flow to the previous and to the next frame, in
  pixels) plus a 1-channel blending mask (logit). Each block sees the frames warped by the
  previous block's flow and refines it (conv stack at 1/alpha, transposed-conv upsampling and
  bilinear resize back to full resolution).
* :class:`FusionNet` (Sec. III-A.2): two ContextNets (one per neighbour; four WarpBlocks each:
  a stride-2 conv stage whose features are warped by the flow at that scale) and a U-Net that
  takes the frames, the warped frames, flow, mask and the warped contexts and predicts a
  residual and a mask correction. Output: the reconstructed frame F~ (float [B, 3, H, W]).
* :class:`Interpolator` = IFNet + FusionNet: ``forward(f0, f1, t)``.
* :func:`dis_interpolate` — the CLASSICAL variant (OpenCV DIS optical flow, linear motion,
  bidirectional backward warping with occlusion-agnostic averaging); selectable for
  comparison, never a silent substitute.

Shapes: frames float [B, 3, H, W] in [0, 1], H and W multiples of 16 (pad first); t float [B].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: out(p) = x(p + flow(p)); x [B, C, H, W], flow [B, 2, H, W] in pixels (dx, dy)."""
    b, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device, dtype=x.dtype),
                            torch.arange(w, device=x.device, dtype=x.dtype), indexing="ij")
    gx = (xs[None] + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys[None] + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return F.grid_sample(x, torch.stack([gx, gy], dim=-1), mode="bilinear", padding_mode="border", align_corners=True)


def _conv(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.PReLU(cout))


class IFBlock(nn.Module):
    """One incremental flow block at down-sampling factor ``alpha``: input [B, cin, H, W] ->
    flow update [B, 4, H, W] (pixels) and mask update [B, 1, H, W]."""

    def __init__(self, cin: int, alpha: int, ch: int = 64) -> None:
        super().__init__()
        self.alpha = alpha
        self.head = nn.Sequential(_conv(cin, ch // 2, 2), _conv(ch // 2, ch, 2))
        self.body = nn.Sequential(*[_conv(ch, ch) for _ in range(4)])
        self.up = nn.ConvTranspose2d(ch, 5, 4, 2, 1)

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        s = 1.0 / self.alpha
        if flow is not None:
            x = torch.cat([x, flow], 1)
        if self.alpha != 1:
            x = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
            if flow is not None:
                x = torch.cat([x[:, :-4], x[:, -4:] * s], 1)
        f = self.head(x)
        f = self.body(f) + f
        out = self.up(f)
        out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        # the up-convolution returns 1/2 of the block's input resolution -> flow x 2 x alpha
        return out[:, :4] * (2.0 * self.alpha), out[:, 4:5]


class IFNet(nn.Module):
    """Coarse-to-fine intermediate flow (alpha = 4, 2, 1): (f0, f1, t) -> (flow [B, 4, H, W], mask
    logit [B, 1, H, W], warped f0, warped f1). ``flow[:, :2]`` maps the middle frame to f0,
    ``flow[:, 2:]`` to f1."""

    def __init__(self, ch: tuple[int, int, int] = (96, 64, 48), scales: tuple[int, int, int] = (4, 2, 1)) -> None:
        super().__init__()
        self.scales = tuple(scales)
        self.blocks = nn.ModuleList([IFBlock(7, scales[0], ch[0])] +
                                    [IFBlock(7 + 6 + 1 + 4, a, c) for a, c in zip(scales[1:], ch[1:])])

    def forward(self, f0, f1, t):
        b, _, h, w = f0.shape
        tt = t.reshape(b, 1, 1, 1).expand(b, 1, h, w).to(f0.dtype)
        flow, mask = None, None
        w0, w1 = f0, f1
        for i, blk in enumerate(self.blocks):
            if i == 0:
                df, dm = blk(torch.cat([f0, f1, tt], 1), None)
                flow, mask = df, dm
            else:
                df, dm = blk(torch.cat([f0, f1, tt, w0, w1, mask], 1), flow)
                flow, mask = flow + df, mask + dm
            w0, w1 = warp(f0, flow[:, :2]), warp(f1, flow[:, 2:4])
        return flow, mask, w0, w1


class ContextNet(nn.Module):
    """Four WarpBlocks: conv stage (stride 2) -> features warped by the flow at that scale.
    (frame [B, 3, H, W], flow [B, 2, H, W]) -> 4 warped feature maps at H/2 .. H/16."""

    def __init__(self, ch: tuple[int, ...] = (16, 32, 48, 64)) -> None:
        super().__init__()
        cins = (3,) + tuple(ch[:-1])
        self.stages = nn.ModuleList([nn.Sequential(_conv(a, c, 2), _conv(c, c)) for a, c in zip(cins, ch)])

    def forward(self, x, flow):
        out = []
        for s in self.stages:
            x = s(x)
            flow = F.interpolate(flow, scale_factor=0.5, mode="bilinear", align_corners=False) * 0.5
            out.append(warp(x, flow))
        return out


class FusionNet(nn.Module):
    """Two ContextNets + a U-Net -> reconstructed frame [B, 3, H, W] in [0, 1]."""

    def __init__(self, ch: tuple[int, ...] = (16, 32, 48, 64)) -> None:
        super().__init__()
        self.ctx0, self.ctx1 = ContextNet(ch), ContextNet(ch)
        base = 3 * 4 + 4 + 1  # f0, f1, w0, w1, flow, mask
        self.down0 = nn.Sequential(_conv(base, 2 * ch[0], 2), _conv(2 * ch[0], 2 * ch[0]))
        self.down1 = nn.Sequential(_conv(2 * ch[0] + 2 * ch[0], 2 * ch[1], 2), _conv(2 * ch[1], 2 * ch[1]))
        self.down2 = nn.Sequential(_conv(2 * ch[1] + 2 * ch[1], 2 * ch[2], 2), _conv(2 * ch[2], 2 * ch[2]))
        self.down3 = nn.Sequential(_conv(2 * ch[2] + 2 * ch[2], 2 * ch[3], 2), _conv(2 * ch[3], 2 * ch[3]))
        self.up0 = nn.Sequential(nn.ConvTranspose2d(2 * ch[3] + 2 * ch[3], 2 * ch[2], 4, 2, 1), nn.PReLU(2 * ch[2]))
        self.up1 = nn.Sequential(nn.ConvTranspose2d(4 * ch[2], 2 * ch[1], 4, 2, 1), nn.PReLU(2 * ch[1]))
        self.up2 = nn.Sequential(nn.ConvTranspose2d(4 * ch[1], 2 * ch[0], 4, 2, 1), nn.PReLU(2 * ch[0]))
        self.up3 = nn.Sequential(nn.ConvTranspose2d(4 * ch[0], ch[0], 4, 2, 1), nn.PReLU(ch[0]))
        self.out = nn.Conv2d(ch[0], 4, 3, 1, 1)

    def forward(self, f0, f1, flow, mask, w0, w1):
        c0, c1 = self.ctx0(f0, flow[:, :2]), self.ctx1(f1, flow[:, 2:4])
        s0 = self.down0(torch.cat([f0, f1, w0, w1, flow, mask], 1))
        s1 = self.down1(torch.cat([s0, c0[0], c1[0]], 1))
        s2 = self.down2(torch.cat([s1, c0[1], c1[1]], 1))
        s3 = self.down3(torch.cat([s2, c0[2], c1[2]], 1))
        x = self.up0(torch.cat([s3, c0[3], c1[3]], 1))
        x = self.up1(torch.cat([x, s2], 1))
        x = self.up2(torch.cat([x, s1], 1))
        x = self.out(self.up3(torch.cat([x, s0], 1)))
        m = torch.sigmoid(mask + x[:, 3:4])
        blend = w0 * m + w1 * (1 - m)
        return (blend + torch.tanh(x[:, :3]) * 0.5).clamp(0, 1)


class Interpolator(nn.Module):
    """IFNet + FusionNet: ``forward(f0, f1, t)`` -> frame at time t; frames [B, 3, H, W] with H, W
    multiples of 16; t float [B] in (0, 1)."""

    multiple = 16

    def __init__(self, ifnet_ch=(96, 64, 48), fusion_ch=(16, 32, 48, 64)) -> None:
        super().__init__()
        self.ifnet_ch, self.fusion_ch = tuple(ifnet_ch), tuple(fusion_ch)
        self.ifnet = IFNet(self.ifnet_ch)
        self.fusion = FusionNet(self.fusion_ch)

    def config(self) -> dict:
        return {"ifnet_ch": list(self.ifnet_ch), "fusion_ch": list(self.fusion_ch)}

    def forward(self, f0, f1, t):
        flow, mask, w0, w1 = self.ifnet(f0, f1, t)
        return self.fusion(f0, f1, flow, mask, w0, w1)


def pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad [B, C, H, W] to multiples of ``multiple``; returns (padded, (H, W))."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


@torch.no_grad()
def learned_interpolate(model: Interpolator, f0: np.ndarray, f1: np.ndarray, ts: list[float],
                        bf16: bool = False) -> list[np.ndarray]:
    """uint8 frames [H, W, 3] -> uint8 frames at times ``ts`` (CPU; float32, or bf16 autocast
    with ``bf16``: about 2x faster where the CPU has native bf16, not bit-exact)."""
    a = torch.from_numpy(np.array(f0, copy=True)).permute(2, 0, 1)[None].float() / 255
    b = torch.from_numpy(np.array(f1, copy=True)).permute(2, 0, 1)[None].float() / 255
    a, (h, w) = pad_to(a, model.multiple)
    b, _ = pad_to(b, model.multiple)
    out = []
    for t in ts:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = model(a, b, torch.tensor([float(t)]))[0, :, :h, :w].float()
        out.append((y.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8))
    return out


def dis_interpolate(f0: np.ndarray, f1: np.ndarray, ts: list[float]) -> list[np.ndarray]:
    """Classical interpolation: OpenCV DIS optical flow (preset MEDIUM) both ways, linear motion,
    backward warping of both neighbours and time-weighted blending. uint8 [H, W, 3] -> list."""
    import cv2

    from semlink.nn.flow import dis_flow

    f01 = dis_flow(f0, f1)  # f0(p) ~ f1(p + f01(p))
    f10 = dis_flow(f1, f0)
    h, w = f0.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for t in ts:
        t = float(t)  # (numpy float64 times would make float64 maps, which remap rejects)
        # flow from the middle frame to f0 ~ t * f10, to f1 ~ (1 - t) * f01 (linear motion)
        m0x, m0y = (xs + t * f10[..., 0]).astype(np.float32), (ys + t * f10[..., 1]).astype(np.float32)
        m1x, m1y = (xs + (1 - t) * f01[..., 0]).astype(np.float32), (ys + (1 - t) * f01[..., 1]).astype(np.float32)
        m0 = cv2.remap(np.ascontiguousarray(f0), m0x, m0y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        m1 = cv2.remap(np.ascontiguousarray(f1), m1x, m1y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        y = (1 - t) * m0.astype(np.float32) + t * m1.astype(np.float32)
        out.append(np.clip(y + 0.5, 0, 255).astype(np.uint8))
    return out
