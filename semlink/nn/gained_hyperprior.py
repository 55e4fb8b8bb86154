"""Variable-rate mean-scale hyperprior: one network, several rate points (gain units).

CompressAI's ``MeanScaleHyperprior`` (Minnen et al., NeurIPS 2018, without the context model;
N = 128, M = 192 is CompressAI's size for its qualities 1..5) with the gain units of Cui et al.
(CVPR 2021, "Asymmetric gained deep image compression with continuous rate adaptation"): rate
level ``l`` multiplies the latent y by a learned per-channel gain ``g_l`` before quantisation
and by an inverse gain ``ig_l`` before synthesis, and likewise the hyper-latent z. One network
trained on a lambda per level replaces one network per lambda (the zoo ships one file for all
rate points; a CPU hour trains every point at once).

Training uses *mixed quantisation* (Minnen & Singh, ICIP 2020): the likelihoods see additive
uniform noise (CompressAI's entropy models in training mode), the synthesis transforms see the
rounded values with a straight-through gradient (``round(y - mu) + mu``), which is what the
decoder gets at test time.

Shapes: x float [B, 3, H, W] in [0, 1], H and W multiples of 64; ``level`` int64 [B] (one
rate level per sample, 0-based: level 0 is the lowest rate); y [B, M, H/16, W/16];
z [B, N, H/64, W/64].
"""

from __future__ import annotations

import math

import torch

from semlink.entropy import model_cls

from .dvc import GainUnit, ste_round

ARCH = "GainedMeanScaleHyperprior"

#: default lambdas (MSE on the [0, 255] scale x 255^2, CompressAI's convention), low to high rate:
#: CompressAI's qualities 1..7 plus one point below (about 0.1 bpp)
DEFAULT_LAMBDAS = (0.0009, 0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932)


class GainedMeanScaleHyperprior(model_cls("MeanScaleHyperprior")):
    """``MeanScaleHyperprior(N, M)`` + gain units for ``len(lambdas)`` rate levels."""

    def __init__(self, N: int, M: int, lambdas=DEFAULT_LAMBDAS) -> None:
        super().__init__(N=N, M=M)
        lam = [float(v) for v in lambdas]
        if len(lam) < 1 or any(not v > 0 for v in lam) or lam != sorted(lam):
            raise ValueError(f"lambdas must be positive and increasing, got {lambdas}")
        self.lambdas = tuple(lam)
        self.levels = len(lam)
        self.y_gain = GainUnit(self.levels, M)
        self.z_gain = GainUnit(self.levels, N)
        # high-rate theory: quantiser step ~ lambda^(-1/2), so the levels start apart
        logs = torch.tensor([math.log(v) for v in lam], dtype=torch.float64)
        spread = torch.exp(0.5 * (logs - logs.mean())).float()[:, None]
        with torch.no_grad():
            self.y_gain.gain.mul_(spread)
            self.y_gain.inv.div_(spread)

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> dict:
        y = self.y_gain.scale(self.g_a(x).float(), level)
        z = self.z_gain.scale(self.h_a(y).float(), level)
        _, z_lik = self.entropy_bottleneck(z)
        z_hat = ste_round(z, self.entropy_bottleneck._get_medians().detach())
        scales, means = self.h_s(self.z_gain.unscale(z_hat, level)).float().chunk(2, 1)
        _, y_lik = self.gaussian_conditional(y, scales, means=means)
        y_hat = ste_round(y, means)
        x_hat = self.g_s(self.y_gain.unscale(y_hat, level)).float()
        return {"x_hat": x_hat, "likelihoods": {"y": y_lik, "z": z_lik}}

    # --- the pieces the codec runs (inference; level is an int) -------------------
    def analysis(self, x: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, z) of x, gained for ``level`` (unquantised)."""
        lv = torch.full((x.shape[0],), int(level), dtype=torch.long, device=x.device)
        y = self.y_gain.scale(self.g_a(x).float(), lv)
        z = self.z_gain.scale(self.h_a(y).float(), lv)
        return y, z

    def hyper_synthesis(self, z_hat: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(scales, means) of y's Gaussian conditional from the dequantised z_hat."""
        lv = torch.full((z_hat.shape[0],), int(level), dtype=torch.long, device=z_hat.device)
        return self.h_s(self.z_gain.unscale(z_hat, lv)).float().chunk(2, 1)

    def synthesis(self, y_hat: torch.Tensor, level: int) -> torch.Tensor:
        """x_hat (raw: not clipped) from the dequantised y_hat."""
        lv = torch.full((y_hat.shape[0],), int(level), dtype=torch.long, device=y_hat.device)
        return self.g_s(self.y_gain.unscale(y_hat, lv)).float()



def gained_mean_scale_hyperprior(n: int, m: int, lambdas=DEFAULT_LAMBDAS) -> GainedMeanScaleHyperprior:
    """A fresh :class:`GainedMeanScaleHyperprior` (float32, CPU)."""
    return GainedMeanScaleHyperprior(int(n), int(m), lambdas)


def rd_loss(out: dict, x: torch.Tensor, lambdas: torch.Tensor) -> dict:
    """Per-sample rate-distortion loss ``lambda_i * 255^2 * MSE_i + bpp_i``, averaged over the batch.

    Args:
        out: the model's output (``x_hat`` and ``likelihoods``).
        x: float [B, 3, H, W] in [0, 1].
        lambdas: float [B], the lambda of each sample's level.
    Returns:
        ``loss`` (scalar tensor), and per-batch means ``bpp``, ``mse`` (scalar tensors).
    """
    b, _, h, w = x.shape
    bits = sum((-torch.log2(lik.float().clamp_min(1e-9))).flatten(1).sum(1) for lik in out["likelihoods"].values())
    bpp = bits / (h * w)
    mse = (out["x_hat"].float() - x).pow(2).flatten(1).mean(1)
    loss = (lambdas * 255.0**2 * mse + bpp).mean()
    return {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean(), "bpp_i": bpp.detach(), "mse_i": mse.detach()}
