"""The Seb networks (Sec. II-B/C, Figs. 2-3) and their end-to-end training forward (Sec. III, eqs. 5, 9, 10).

* :func:`divide` / :func:`concat`: f_divide and f_concat of eq. 2 (32x32 patches, row-major).
* :class:`SebGenerator` f_phi: 4 x (Conv5x5 stride 2 + GDN): a 32x32 patch -> F [c', 2, 2] (h' = h/16).
* :class:`RefPatchGenerator` f_theta: 4 x (Deconv5x5 stride 2 + IGDN): a Seb -> a 32x32 reference patch.
* :func:`seb_clusters`: f_cluster of eq. 2 (k-means, K = floor(n_j n_p / 25)) -> Sebs S, usage A.
* :class:`SebModel`: the above + the Seb entropy model (R(S), eq. 6) + the DVC-style
  :class:`~semlink.nn.dvc.InterCoder` (Seb-based image encoder/decoder, Fig. 3, R(Z^m), R(Z^r) of eq. 8).

Widths are CPU-scale: N = 64 channels (the paper: 192), c' = 32 latent channels.
Shapes: images [n, 3, H, W] in [0, 1], H, W multiples of 64; a set's patches [n * n_p, 3, 32, 32].
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from semlink.nn.dvc import InterCoder, analysis, bits_of, synthesis

#: patch height = width (Sec. IV-A: h = w = 32)
PATCH = 32
#: K = floor(n_j * n_p / KDIV) (Sec. IV-A)
KDIV = 25
#: rate level i (codec quality i + 1) uses LAMBDAS[i], for MSE of images in [0, 1] and rates in bpp.
#: The paper's four lambdas (Sec. IV-B, Fig. 5) are levels 2..5; 64 and 128 are ours: lower rate
#: points so that the CBR = 1/30 budget at low SNR (0.1 bpp at 0 dB, eqs. 11-12) can be met.
LAMBDAS = (64, 128, 256, 512, 1024, 2048)
#: the levels of the paper's lambdas
PAPER_LEVELS = (2, 3, 4, 5)


def gain_spread(lambdas=LAMBDAS) -> torch.Tensor:
    """[levels, 1] initial gains sqrt(lambda / geometric mean of lambdas): high-rate theory's
    quantiser step ~ lambda^(-1/2), so the rate levels start apart instead of equal."""
    logs = torch.tensor([math.log(v) for v in lambdas], dtype=torch.float64)
    return torch.exp(0.5 * (logs - logs.mean())).float()[:, None]


def spread_gains(module: nn.Module, lambdas=LAMBDAS) -> None:
    """Multiply every GainUnit's gains by :func:`gain_spread` (and divide its inverse gains)."""
    from semlink.nn.dvc import GainUnit

    f = gain_spread(lambdas)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, GainUnit):
                m.gain.copy_(m.gain.abs() * f)
                m.inv.copy_(m.inv.abs() / f)


def divide(x: torch.Tensor, patch: int = PATCH) -> torch.Tensor:
    """f_divide: [n, C, H, W] -> [n * n_p, C, patch, patch], patches row-major per image."""
    n, c, h, w = x.shape
    if h % patch or w % patch:
        raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {patch}")
    p = x.reshape(n, c, h // patch, patch, w // patch, patch).permute(0, 2, 4, 1, 3, 5)
    return p.reshape(-1, c, patch, patch)


def concat(patches: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """f_concat: the inverse of :func:`divide`: [n * n_p, C, p, p] -> [n, C, H, W]."""
    _, c, p, _ = patches.shape
    x = patches.reshape(n, h // p, w // p, c, p, p).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(n, c, h, w)


def num_sebs(num_patches: int) -> int:
    """K = floor(n_j * n_p / 25), at least 1 (Sec. IV-A)."""
    return max(1, num_patches // KDIV)


def usage_bits(num_patches: int, k: int) -> float:
    """R(A) of eq. 7 for ``num_patches`` = n x n_p patches and K Sebs: n n_p log2 K bits."""
    return num_patches * math.log2(k) if k > 1 else 0.0


def seb_clusters(features: np.ndarray, k: int, seed: int = 0, n_init: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """f_cluster of eq. 2: k-means (scikit-learn, Lloyd) of ``features`` [P, D] into ``k`` clusters.

    Returns (centres float32 [k, D], usage int64 [P] in 0..k-1). With fewer distinct features
    than ``k`` the extra centres are duplicates (never used)."""
    from sklearn.cluster import KMeans

    f = np.ascontiguousarray(features, dtype=np.float32)
    k = int(min(k, len(f)))
    if k <= 1:
        return f.mean(0, keepdims=True), np.zeros(len(f), dtype=np.int64)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on duplicate points
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed, max_iter=50).fit(f)
    return km.cluster_centers_.astype(np.float32), km.labels_.astype(np.int64)


class SebGenerator(nn.Module):
    """f_phi (Fig. 2): [P, 3, 32, 32] -> F [P, c', 2, 2]."""

    def __init__(self, n: int = 64, c: int = 32) -> None:
        super().__init__()
        self.net = analysis(3, n, c)

    def forward(self, patches):
        return self.net(patches)


class RefPatchGenerator(nn.Module):
    """f_theta (Fig. 2): Sebs [K, c', 2, 2] -> reference patches [K, 3, 32, 32]."""

    def __init__(self, n: int = 64, c: int = 32) -> None:
        super().__init__()
        self.net = synthesis(c, n, 3)

    def forward(self, sebs):
        return self.net(sebs)


def copy_gradient(values: torch.Tensor, members: torch.Tensor, usage: torch.Tensor, mean: bool) -> torch.Tensor:
    """``values`` [K, ...] (no gradient) whose gradient is copied to the ``members`` [P, ...] of each
    cluster (``usage`` [P]): forward = values; d/d members_i = d/d values[usage_i] (``mean``: divided
    by the cluster size). This is Sec. III-B's gradient approximation through the clustering."""
    k = values.shape[0]
    delta = members - members.detach()
    summed = torch.zeros_like(values).index_add(0, usage, delta)
    if mean:
        count = torch.bincount(usage, minlength=k).clamp_min(1).to(values.dtype)
        summed = summed / count.reshape(-1, *([1] * (values.dim() - 1)))
    return values.detach() + summed


class SebModel(nn.Module):
    """Seb reference image generator + Seb entropy model + inter coder (one network for 4 lambdas)."""

    def __init__(self, n: int = 64, c: int = 32, levels: int = len(LAMBDAS), inter: dict | None = None) -> None:
        super().__init__()
        from semlink.entropy import entropy_bottleneck_cls
        from semlink.nn.dvc import GainUnit

        EntropyBottleneck = entropy_bottleneck_cls()
        self.cfg = {"n": n, "c": c, "levels": levels, "inter": dict(inter or {})}
        self.seb_gen = SebGenerator(n, c)
        self.ref_gen = RefPatchGenerator(n, c)
        self.seb_gain = GainUnit(levels, c)
        self.seb_entropy = EntropyBottleneck(c)
        self.inter = InterCoder(levels=levels, **(inter or {}))
        if levels == len(LAMBDAS):
            spread_gains(self)

    def config(self) -> dict:
        return {**self.cfg, "inter": self.inter.config()}

    def update(self, force: bool = True) -> None:
        """Compute every entropy model's CDF tables (always recomputed; ``force`` is accepted for
        the interface of CompressAI's ``update``)."""
        self.seb_entropy.update(force=True)
        self.inter.update()

    def aux_loss(self):
        return self.seb_entropy.loss() + self.inter.aux_loss()

    def features(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Gained Seb-generator outputs F of a set's patches: [n * n_p, c', 2, 2]."""
        patches = divide(x)
        return self.seb_gain.scale(self.seb_gen(patches), level.expand(patches.shape[0]))

    def reference_from_sebs(self, sebs_hat: torch.Tensor, usage: torch.Tensor, n: int, h: int, w: int,
                            level: torch.Tensor) -> torch.Tensor:
        """Eq. 4: reference images [n, 3, H, W] from quantised Sebs [K, c', 2, 2] and usage [n * n_p]."""
        ref_patches = self.ref_gen(self.seb_gain.unscale(sebs_hat, level.expand(sebs_hat.shape[0]))).float()
        return concat(ref_patches[usage], n, h, w)

    def forward(self, x: torch.Tensor, level: int, seed: int = 0) -> dict:
        """Training forward of one image set (subset) ``x`` [n, 3, H, W] at rate level ``level``.

        Returns a dict: ``x_hat``, ``reference``, ``prediction``, ``warped``; bits ``seb`` (R(S),
        scalar), ``usage`` (R(A), float), ``motion`` [n], ``residual`` [n]; ``reg_sum`` (eq. 9:
        the sum over the set's features F_i of ||F_i - sg(S_i)||^2, S_i the Seb of F_i),
        ``reg_elements`` (how many elements that sum runs over); ``k``.
        """
        n, _, h, w = x.shape
        lv = torch.tensor([int(level)], device=x.device)
        f = self.features(x, lv).float()
        k = num_sebs(f.shape[0])
        centres, usage = seb_clusters(f.detach().flatten(1).cpu().numpy(), k, seed)
        k = centres.shape[0]
        usage_t = torch.from_numpy(usage).to(x.device)
        s = torch.from_numpy(centres).to(x.device).reshape(k, *f.shape[1:])
        with torch.autocast(x.device.type, enabled=False):
            s_rate = copy_gradient(s, f, usage_t, mean=True)
            _, s_lik = self.seb_entropy(s_rate)
            med = self.seb_entropy._get_medians().reshape(1, -1, 1, 1)
        s_hat = copy_gradient(torch.round(s - med) + med, f, usage_t, mean=False)
        reference = self.reference_from_sebs(s_hat, usage_t, n, h, w, lv)
        out = self.inter(reference, x, lv.expand(n))
        reg_sum = (f - s[usage_t].detach()).pow(2).sum()
        return {**out, "reference": reference, "seb": bits_of(s_lik[None].flatten(1)).sum(),
                "usage": usage_bits(f.shape[0], k), "motion": out["bits_motion"], "residual": out["bits_residual"],
                "reg_sum": reg_sum, "reg_elements": f.numel(), "k": k}
