"""DVC-style inter coding of a target image given a reference image (Lu et al., CVPR 2019, ref. [16]
of the Seb paper): optical flow -> motion compression -> warping + motion compensation -> residual
compression; reconstruction = prediction + decoded residual.

Used by both the Seb image encoder/decoder (reference = the Seb reference image, Sec. II-C and
Fig. 3 of the Seb paper) and the "DL w/ corr." pair codec (reference = a decoded image of the
set). The entropy models are the Seb paper's eq. 8: the motion latent Z^m has a *parametric*
model (a scale hyperprior: a Gaussian whose scales come from a side latent) and the residual
latent Z^r a *non-parametric* factorized model (CompressAI's EntropyBottleneck).

Variable rate: every latent is multiplied by a learned per-channel gain of its rate level
before quantisation and by a learned inverse gain after it (gain units, Cui et al., CVPR 2021),
so one network serves the Seb paper's four lambdas. This is our deviation from training four
networks (kept for the CPU budget and the zoo size); ``level`` selects the lambda.

Written from the papers (ZhihaoHu/PyTorchVideoCompression was read, not copied). Sizes are
CPU-scale (N = 64 channels), far below DVC's 128 / 192.

Shapes: images [B, 3, H, W] in [0, 1] with H, W multiples of :data:`PAD`; ``level`` int64 [B].
Rates are in bits per sample ([B]) from the likelihoods (training) or exact string lengths
(coding).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from semlink.entropy import entropy_bottleneck_cls, gaussian_conditional_cls, gdn_cls

from .flow import SpyNetLite, warp

#: H and W must be multiples of this (motion latent /16, its hyper latent /64)
PAD = 64
#: likelihood floor (bits = -log2 likelihood)
_EPS = 1e-9


def conv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, k // 2)


def deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride, k // 2, output_padding=stride - 1)


def analysis(cin: int, n: int, m: int) -> nn.Sequential:
    """4 x (conv5x5 stride 2) with GDN between: [B, cin, H, W] -> [B, m, H/16, W/16]."""
    GDN = gdn_cls()
    return nn.Sequential(conv(cin, n), GDN(n), conv(n, n), GDN(n), conv(n, n), GDN(n), conv(n, m))


def synthesis(m: int, n: int, cout: int) -> nn.Sequential:
    """4 x (deconv5x5 stride 2) with IGDN between: [B, m, h, w] -> [B, cout, 16 h, 16 w]."""
    GDN = gdn_cls()
    return nn.Sequential(deconv(m, n), GDN(n, inverse=True), deconv(n, n), GDN(n, inverse=True),
                         deconv(n, n), GDN(n, inverse=True), deconv(n, cout))


def bits_of(likelihoods: torch.Tensor) -> torch.Tensor:
    """Bits per sample [B] of likelihoods [B, ...]."""
    return -torch.log2(likelihoods.float().clamp_min(_EPS)).flatten(1).sum(1)


def ste_round(y: torch.Tensor, offset: torch.Tensor | float = 0.0) -> torch.Tensor:
    """``round(y - offset) + offset`` forward, identity gradient (straight-through)."""
    return y + (torch.round(y - offset) + offset - y).detach()


class GainUnit(nn.Module):
    """Per-level, per-channel gains: ``scale(y, level) = y * g[level]``, ``unscale(y, level) = y * ig[level]``.

    Args:
        levels: number of rate levels (lambdas).
        channels: channels C of the latent.
    Shapes: y [B, C, ...], level int64 [B].
    """

    def __init__(self, levels: int, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(levels, channels))
        self.inv = nn.Parameter(torch.ones(levels, channels))

    @staticmethod
    def _pick(table: torch.Tensor, y: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        g = table[level]
        return g.reshape(*g.shape, *([1] * (y.dim() - 2))).to(y.dtype)

    def scale(self, y: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        return y * self._pick(self.gain.abs(), y, level)

    def unscale(self, y: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        return y * self._pick(self.inv.abs(), y, level)


class FactorizedCodec(nn.Module):
    """Autoencoder + factorized entropy model (Ballé 2017) with gain units: the residual coder.

    ``forward(x, level) -> (x_hat [B, cout, H, W], bits [B])``.
    """

    def __init__(self, cin: int = 3, n: int = 64, m: int = 96, levels: int = 4) -> None:
        super().__init__()
        self.g_a, self.g_s = analysis(cin, n, m), synthesis(m, n, cin)
        self.entropy_bottleneck = entropy_bottleneck_cls()(m)
        self.gain = GainUnit(levels, m)

    def latent(self, x, level):
        return self.gain.scale(self.g_a(x), level)

    def forward(self, x: torch.Tensor, level: torch.Tensor):
        y = self.latent(x, level).float()
        with torch.autocast(x.device.type, enabled=False):
            _, lik = self.entropy_bottleneck(y)
            y_q = ste_round(y, self.entropy_bottleneck._get_medians().reshape(1, -1, 1, 1))
        return self.g_s(self.gain.unscale(y_q, level)), bits_of(lik)


class HyperpriorCodec(nn.Module):
    """Autoencoder + scale hyperprior (Ballé 2018) with gain units: the motion coder.

    ``forward(x, level) -> (x_hat [B, cin, H, W], bits [B])`` (latent + side latent).
    """

    def __init__(self, cin: int = 2, n: int = 64, m: int = 64, levels: int = 4) -> None:
        super().__init__()
        self.g_a, self.g_s = analysis(cin, n, m), synthesis(m, n, cin)
        self.h_a = nn.Sequential(conv(m, n, 3, 1), nn.ReLU(inplace=True), conv(n, n), nn.ReLU(inplace=True), conv(n, n))
        self.h_s = nn.Sequential(deconv(n, n), nn.ReLU(inplace=True), deconv(n, n), nn.ReLU(inplace=True),
                                 conv(n, m, 3, 1), nn.ReLU(inplace=True))
        self.entropy_bottleneck = entropy_bottleneck_cls()(n)
        self.gaussian_conditional = gaussian_conditional_cls()(None)
        self.gain = GainUnit(levels, m)

    def latent(self, x, level):
        return self.gain.scale(self.g_a(x), level)

    def forward(self, x: torch.Tensor, level: torch.Tensor):
        y = self.latent(x, level).float()
        z = self.h_a(y.abs()).float()
        with torch.autocast(x.device.type, enabled=False):
            z_hat, z_lik = self.entropy_bottleneck(z)
            scales = self.h_s(z_hat).float()
            _, y_lik = self.gaussian_conditional(y, scales)
            y_q = ste_round(y)
        return self.g_s(self.gain.unscale(y_q, level)), bits_of(y_lik) + bits_of(z_lik)


class MotionCompensation(nn.Module):
    """DVC's motion compensation net (a 2-scale U-Net): [warped, reference, flow] -> prediction.

    ``forward(warped [B,3,H,W], reference [B,3,H,W], flow [B,2,H,W]) -> [B, 3, H, W]`` (warped + correction).
    """

    def __init__(self, ch: int = 24) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.1, inplace=True)
        self.enc1 = nn.Sequential(nn.Conv2d(8, ch, 3, 1, 1), act, nn.Conv2d(ch, ch, 3, 1, 1), act)
        self.enc2 = nn.Sequential(nn.Conv2d(ch, 2 * ch, 3, 2, 1), act, nn.Conv2d(2 * ch, 2 * ch, 3, 1, 1), act)
        self.dec = nn.Sequential(nn.Conv2d(3 * ch, ch, 3, 1, 1), act, nn.Conv2d(ch, 3, 3, 1, 1))
        nn.init.zeros_(self.dec[-1].weight)
        nn.init.zeros_(self.dec[-1].bias)

    def forward(self, warped, reference, flow):
        e1 = self.enc1(torch.cat([warped, reference, flow / 8.0], 1))
        e2 = F.interpolate(self.enc2(e1), size=e1.shape[-2:], mode="bilinear", align_corners=False)
        return warped + self.dec(torch.cat([e1, e2], 1))


class InterCoder(nn.Module):
    """Flow + motion codec + motion compensation + residual codec (the DVC structure).

    Args:
        n: channels of the transforms; m_motion / m_residual: latent channels.
        levels: rate levels (gain units).
        flow_levels: SpyNetLite pyramid levels.
    """

    def __init__(self, n: int = 64, m_motion: int = 64, m_residual: int = 96, levels: int = 4,
                 flow_levels: int = 4, mc_ch: int = 24) -> None:
        super().__init__()
        self.cfg = {"n": n, "m_motion": m_motion, "m_residual": m_residual, "levels": levels,
                    "flow_levels": flow_levels, "mc_ch": mc_ch}
        self.flow = SpyNetLite(flow_levels)
        self.motion = HyperpriorCodec(2, n, m_motion, levels)
        self.mc = MotionCompensation(mc_ch)
        self.residual = FactorizedCodec(3, n, m_residual, levels)

    def config(self) -> dict:
        return dict(self.cfg)

    def forward(self, reference: torch.Tensor, x: torch.Tensor, level: torch.Tensor) -> dict:
        """Training forward: dict with ``x_hat``, ``prediction``, ``warped`` (raw-flow warp, for
        the auxiliary warping loss), ``bits_motion`` [B], ``bits_residual`` [B]."""
        flow = self.flow(x, reference)
        flow_hat, bits_m = self.motion(flow, level)
        flow_hat = flow_hat.float()
        warped_hat = warp(reference, flow_hat)
        pred = self.mc(warped_hat, reference, flow_hat).float()
        r_hat, bits_r = self.residual(x - pred, level)
        return {"x_hat": pred + r_hat.float(), "prediction": pred, "warped": warp(reference, flow.float()),
                "bits_motion": bits_m, "bits_residual": bits_r}

    # ------------------------------------------------------------------ coding (CPU, float32, one image)
    def update(self, force: bool = True) -> None:
        """Compute the entropy models' CDF tables (after training; always recomputed: ``force``
        is accepted for the interface of CompressAI's ``update``)."""
        from semlink.entropy import scale_table

        self.motion.entropy_bottleneck.update(force=True)
        self.residual.entropy_bottleneck.update(force=True)
        self.motion.gaussian_conditional.update_scale_table(scale_table(), force=True)

    def aux_loss(self) -> torch.Tensor:
        return self.motion.entropy_bottleneck.loss() + self.residual.entropy_bottleneck.loss()

    @torch.inference_mode()
    def compress(self, reference: torch.Tensor, x: torch.Tensor, level: int) -> tuple[dict[str, bytes], torch.Tensor]:
        """(strings ``motion_z``, ``motion_y``, ``residual``; the decoder's reconstruction [1, 3, H, W]).

        The reconstruction is computed from the quantised symbols exactly as :meth:`decompress` does."""
        from semlink.entropy import FactorizedCoder, GaussianCoder, encode_hyper

        lv = torch.tensor([int(level)])
        flow = self.flow(x, reference)
        m = self.motion
        y = m.latent(flow, lv).float()
        z = m.h_a(y.abs()).float()
        strings = dict(zip(("motion_z", "motion_y"), encode_hyper(
            FactorizedCoder(m.entropy_bottleneck), GaussianCoder(m.gaussian_conditional), y, z,
            lambda z_hat: (m.h_s(z_hat).float(), 0.0))))
        pred = self._predict(reference, torch.round(y), lv)
        r = self.residual
        rc = FactorizedCoder(r.entropy_bottleneck)
        yr = r.latent(x - pred, lv).float()
        yr_sym = rc.symbols(yr)
        strings["residual"] = rc.encode_symbols(yr_sym)
        x_hat = pred + r.g_s(r.gain.unscale(rc.dequantize(yr_sym, yr_sym.shape), lv)).float()
        return strings, x_hat

    def _predict(self, reference, y_hat, lv):
        flow_hat = self.motion.g_s(self.motion.gain.unscale(y_hat, lv)).float()
        return self.mc(warp(reference, flow_hat), reference, flow_hat).float()

    @torch.inference_mode()
    def decompress(self, reference: torch.Tensor, strings: dict[str, bytes], level: int) -> tuple[torch.Tensor, list[str]]:
        """(x_hat [1, 3, H, W], raw (not clipped); problems) from :meth:`compress`'s strings; never raises
        on damaged strings (they decode to wrong values and a problem entry)."""
        from semlink.entropy import FactorizedCoder, GaussianCoder, decode_hyper

        lv = torch.tensor([int(level)])
        _, _, h, w = reference.shape
        m, r = self.motion, self.residual
        problems = []
        my = m.gain.gain.shape[1]
        y_hat, (pz, py) = decode_hyper(
            FactorizedCoder(m.entropy_bottleneck), GaussianCoder(m.gaussian_conditional),
            strings.get("motion_z", b""), strings.get("motion_y", b""), (1, m.entropy_bottleneck.channels, h // 64, w // 64),
            lambda z_hat: (m.h_s(z_hat).float().reshape(1, my, h // 16, w // 16), 0.0))
        problems += [f"motion_{name}: {p}" for name, p in (("z", pz), ("y", py)) if p]
        pred = self._predict(reference, y_hat, lv)
        yr, p = FactorizedCoder(r.entropy_bottleneck).decode(strings.get("residual", b""),
                                                             (1, r.entropy_bottleneck.channels, h // 16, w // 16))
        if p:
            problems.append(f"residual: {p}")
        x_hat = pred + r.g_s(r.gain.unscale(yr, lv)).float()
        x_hat = torch.nan_to_num(x_hat, nan=0.5, posinf=1.0, neginf=0.0)
        return x_hat, problems


def psnr(mse: float) -> float:
    return 10 * math.log10(1.0 / max(float(mse), 1e-12))
