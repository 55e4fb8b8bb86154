"""gan-c2f networks: the base layer (encoder -> quantiser -> entropy bottleneck -> SPADE
generator) and the enhancement layer (a mean-scale hyperprior on the residual).

Shapes: images float [B, 3, H, W] in [0, 1], H and W multiples of :data:`PAD` (64); the base
latent is [B, c_latent, H/16, W/16]; the semantic map is one-hot [B, K, H/16, W/16]
(:mod:`.semantic_map`, one class per 16x16 block).

Base layer (the paper's "base layer ... fully generated"):

* ``g_a``: 4 x (conv 5x5 stride 2) with GDN between (CompressAI), ``n`` channels, then
  ``c_latent`` latent channels at 1/16 resolution;
* quantiser: rounding around the entropy bottleneck's medians; during training additive
  uniform noise for the rate term and straight-through rounding for the generator input
  (the "mixed" quantisation of Minnen & Singh 2020, as in HiFiC);
* entropy model: CompressAI's ``EntropyBottleneck`` (factorized prior) over the latent;
* **nested channels**: only the first ``keep`` latent channels are sent (``keep`` in
  :attr:`BaseLayer.levels`, e.g. 4 or 8 of 8), the others are zero at the generator. Training
  draws ``keep`` per sample, so one network gives two base rates; this is how the rate is
  moved between base and enhancement layer (the perception-distortion trade-off);
* generator: conv 3x3 -> 5 SPADE residual blocks (1/16 .. 1/1 resolution, nearest x2
  upsampling between) driven by the semantic map -> conv 3x3 -> sigmoid.

Enhancement layer ("the enhancement layer restores the fine details"): CompressAI's
``MeanScaleHyperprior(N, M)`` applied to the residual ``x - base`` (signed, unbounded
output); the decoder adds its output to the base and clips to [0, 1]. **Conditional**
variant (``conditional=True``, v2): both sides see the base image, which the receiver has:
the analysis transform reads ``[x - base, base]`` (6 channels: it can spend nothing where the
generated texture is already acceptable) and a small fusion network :class:`BaseFusion`
refines the decoded residual from ``[r, base]`` (:func:`enhancement_input`,
:func:`enhancement_output`). Same bitstream layout, same entropy models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semlink.entropy import compression_model_cls, entropy_bottleneck_cls, gdn_cls
from semlink.nn.spade import SPADEResBlock

PAD = 64


# CompressAI's classes (the base layer subclasses CompressionModel, so CompressAI is imported here)
EntropyBottleneck, GDN, CompressionModel = entropy_bottleneck_cls(), gdn_cls(), compression_model_cls()


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


class SpadeGenerator(nn.Module):
    """Latent [B, c_latent, h, w] + map [B, K, h', w'] -> image [B, 3, 16h, 16w] in [0, 1]."""

    def __init__(self, c_latent: int, k: int, widths: tuple[int, ...] = (128, 96, 64, 48, 32), hidden: int = 32) -> None:
        super().__init__()
        if len(widths) != 5:
            raise ValueError(f"widths must list 5 channel counts (1/16 .. 1/1 resolution), got {widths}")
        self.head = nn.Conv2d(c_latent + k, widths[0], 3, padding=1)
        ins = (widths[0],) + tuple(widths[:-1])
        self.blocks = nn.ModuleList(SPADEResBlock(ci, co, k, hidden) for ci, co in zip(ins, widths))
        self.tail = nn.Conv2d(widths[-1], 3, 3, padding=1)

    def forward(self, y: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        s0 = seg if seg.shape[-2:] == y.shape[-2:] else F.interpolate(seg, size=y.shape[-2:], mode="bilinear", align_corners=False)
        x = self.head(torch.cat([y, s0], 1))
        for i, block in enumerate(self.blocks):
            if i:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x, seg)
        return torch.sigmoid(self.tail(F.leaky_relu(x, 0.2)))


class BaseLayer(CompressionModel):
    """Encoder, entropy bottleneck and SPADE generator of the base layer.

    Args:
        k: classes of the semantic map.
        c_latent: latent channels (all of them at the highest base level).
        n: channels of the analysis transform.
        widths: generator channels at 1/16, 1/8, 1/4, 1/2, 1/1 resolution.
        levels: the numbers of latent channels a stream may carry (ascending, last = c_latent).
        map_features: what the semantic map clusters, ``"colour"`` (v1) or ``"vgg16"``
            (:mod:`.semantic_map`); sizes the ``centres`` buffer.
    """

    def __init__(self, k: int = 8, c_latent: int = 8, n: int = 96, widths=(128, 96, 64, 48, 32), hidden: int = 32,
                 levels=(4, 8), map_features: str = "colour") -> None:
        from .semantic_map import FEATURE_DIMS, check_features

        super().__init__()
        levels = tuple(int(v) for v in levels)
        if not levels or levels[-1] != c_latent or list(levels) != sorted(set(levels)) or levels[0] < 1:
            raise ValueError(f"levels must be ascending channel counts ending at c_latent={c_latent}, got {levels}")
        self.k, self.c_latent, self.n, self.widths, self.hidden, self.levels = k, c_latent, n, tuple(widths), hidden, levels
        self.g_a = nn.Sequential(_conv(3, n), GDN(n), _conv(n, n), GDN(n), _conv(n, n), GDN(n), _conv(n, c_latent))
        self.entropy_bottleneck = EntropyBottleneck(c_latent)
        self.generator = SpadeGenerator(c_latent, k, self.widths, hidden)
        #: the descriptor the semantic map clusters (:data:`.semantic_map.MAP_FEATURES`)
        self.map_features = check_features(map_features)
        #: the semantic map's k-means centres (float32 [k, D], D = 4 colour / 512 vgg16), fitted on the training corpus
        self.register_buffer("centres", torch.zeros(k, FEATURE_DIMS[map_features]))

    def config(self) -> dict:
        return {"k": self.k, "c_latent": self.c_latent, "n": self.n, "widths": list(self.widths),
                "hidden": self.hidden, "levels": list(self.levels), "map_features": self.map_features}

    def channel_mask(self, keep: torch.Tensor) -> torch.Tensor:
        """float [B, c_latent, 1, 1]: 1 for the first ``keep[b]`` channels of sample b."""
        idx = torch.arange(self.c_latent, device=keep.device)
        return (idx[None] < keep[:, None]).float()[:, :, None, None]

    def forward(self, x: torch.Tensor, seg: torch.Tensor, keep: torch.Tensor) -> dict:
        """Training/validation pass. ``keep`` int [B]. Returns ``x_hat`` [B, 3, H, W],
        ``bits`` [B] (estimated base-latent bits of the kept channels) and ``y``."""
        y = self.g_a(x)
        mask = self.channel_mask(keep)
        _, lik = self.entropy_bottleneck(y)
        bits = (-torch.log2(lik.clamp_min(1e-9)) * mask).sum(dim=(1, 2, 3))
        med = self.entropy_bottleneck._get_medians().reshape(1, -1, 1, 1)
        y_q = torch.round(y - med) + med
        y_hat = y + (y_q - y).detach()  # straight-through rounding
        return {"x_hat": self.generator(y_hat * mask, seg), "bits": bits, "y": y}

    def synthesize(self, y_hat: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """Decoder side: quantised latent (unsent channels zero) + map -> base image."""
        return self.generator(y_hat, seg)


class BaseFusion(nn.Module):
    """Decoder side of the conditional enhancement layer: ``r + f([r, base])`` for a decoded
    residual r [B, 3, H, W] and the base image [B, 3, H, W]; 3 conv 3x3 layers of ``ch``
    channels, the last one zero-initialised (the fusion starts as the identity)."""

    def __init__(self, ch: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(6, ch, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(ch, ch, 3, padding=1),
                                 nn.LeakyReLU(0.2), nn.Conv2d(ch, 3, 3, padding=1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, r: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return r + self.net(torch.cat([r, base.to(r.dtype)], 1))


def build_enhancement(n: int = 64, m: int = 128, conditional: bool = False):
    """The enhancement layer: CompressAI ``MeanScaleHyperprior(N=n, M=m)`` over the residual;
    ``conditional``: its analysis reads ``[x - base, base]`` (first convolution 6 -> n) and a
    :class:`BaseFusion` (attribute ``fuse``) refines the decoded residual with the base."""
    from semlink.nn.hyperprior import build_model

    net = build_model(n, m, "MeanScaleHyperprior")
    net.conditional = bool(conditional)
    if conditional:
        net.g_a[0] = _conv(6, n)
        net.fuse = BaseFusion()
    return net


def is_conditional(net) -> bool:
    """True for an enhancement layer built with ``conditional=True``."""
    return bool(getattr(net, "conditional", False))


def enhancement_input(net, x: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """What the enhancement layer's analysis reads: ``x - base`` or ``[x - base, base]``."""
    return torch.cat([x - base, base], 1) if is_conditional(net) else x - base


def enhancement_output(net, r: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """The enhanced image (not clipped) from the decoded residual ``r`` and the base."""
    return base + (net.fuse(r, base) if is_conditional(net) else r)
