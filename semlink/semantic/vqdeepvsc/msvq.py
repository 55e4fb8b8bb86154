"""MSVQ: the multi-channel semantic vector-quantisation codec of VQ-DeepVSC (Sec. IV).

* :class:`MSVQEncoder` (Sec. IV-A, Fig. 4): ``conv_in``, one down-sampling module per entry
  of ``widths`` (two residual blocks each, a self-attention block in the last one, then a
  stride-2 convolution), an intermediate layer (res, attention, res), GroupNorm, SiLU and a
  convolution to ``c x d`` channels (default widths 32/64/96): the feature ``z`` in R^{h x w x d x c}.
* :class:`MultiChannelVQ` (eq. 9): each of the ``c`` d-dimensional vectors at each of the
  ``h w`` positions is replaced by the nearest of the ``L`` vectors of ONE shared codebook
  E (``vector_quantize_pytorch.VectorQuantize``: k-means initialisation, EMA codebook
  updates and dead-code restarts, the measures against codebook collapse). Index order in
  ``s`` (``L_s = h w c`` indices per frame): channel-major, then row-major positions, as the
  paper's ``s_m = [s^(1); ...; s^(c)]``.
* :class:`MSVQDecoder` (Sec. IV-B, Fig. 5, eq. 10): the mirrored network whose every
  normalisation is a spatial conditional normalisation (SCN: GroupNorm, then scale and bias
  convolved from the bilinearly interpolated quantised latent; :class:`semlink.nn.spade.SPADE`
  with the latent as the conditioning map).

Nested channels (our addition, documented in the README): a frame may be sent with only its
first ``keep`` of the ``c`` channels; the decoder sees the missing channels as zero vectors.
Training draws ``keep`` per sample from ``levels`` so that one network serves several rates.

Shapes: frames float [B, 3, H, W] in [0, 1] with H, W multiples of ``2 ** len(widths)``;
indices int64 [B, c, h, w].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from semlink.nn.spade import SPADE


def _groups(ch: int, want: int = 16) -> int:
    g = min(want, ch)
    while ch % g:
        g -= 1
    return g


class _Norm(nn.Module):
    """GroupNorm (encoder) or SCN conditioned on the latent (decoder): ``forward(x, zq)``."""

    def __init__(self, ch: int, cond_ch: int | None, hidden: int = 32) -> None:
        super().__init__()
        self.scn = SPADE(ch, cond_ch, hidden=hidden, groups=_groups(ch)) if cond_ch else None
        self.gn = None if cond_ch else nn.GroupNorm(_groups(ch), ch)

    def forward(self, x: torch.Tensor, zq: torch.Tensor | None) -> torch.Tensor:
        return self.scn(x, zq) if self.scn is not None else self.gn(x)


class ResBlock(nn.Module):
    """(Norm, SiLU, conv3x3) x 2 + shortcut (1x1 conv when the width changes)."""

    def __init__(self, cin: int, cout: int, cond_ch: int | None = None) -> None:
        super().__init__()
        self.n1, self.c1 = _Norm(cin, cond_ch), nn.Conv2d(cin, cout, 3, padding=1)
        self.n2, self.c2 = _Norm(cout, cond_ch), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, zq=None):
        h = self.c1(F.silu(self.n1(x, zq)))
        h = self.c2(F.silu(self.n2(h, zq)))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with a residual connection (Norm, q/k/v 1x1, proj)."""

    def __init__(self, ch: int, cond_ch: int | None = None) -> None:
        super().__init__()
        self.norm = _Norm(ch, cond_ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x, zq=None):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x, zq)).reshape(b, 3, c, h * w).unbind(1)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return x + self.proj(a.transpose(1, 2).reshape(b, c, h, w))


class MSVQEncoder(nn.Module):
    """Frame [B, 3, H, W] -> z [B, c * d, H / 2^D, W / 2^D] (D = len(widths))."""

    def __init__(self, widths: tuple[int, ...], c: int, d: int) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(3, widths[0], 3, padding=1)
        mods = []
        for i, w in enumerate(widths):
            nxt = widths[min(i + 1, len(widths) - 1)]
            blocks: list[nn.Module] = [ResBlock(w, w), ResBlock(w, w)]
            if i == len(widths) - 1:
                blocks.append(AttnBlock(w))
            blocks.append(nn.Conv2d(w, nxt, 3, stride=2, padding=1))
            mods.append(nn.ModuleList(blocks))
        self.down = nn.ModuleList(mods)
        top = widths[-1]
        self.mid = nn.ModuleList([ResBlock(top, top), AttnBlock(top), ResBlock(top, top)])
        self.norm_out = nn.GroupNorm(_groups(top), top)
        self.conv_out = nn.Conv2d(top, c * d, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x * 2 - 1)
        for blocks in self.down:
            for b in blocks:
                h = b(h)
        for b in self.mid:
            h = b(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class MSVQDecoder(nn.Module):
    """Quantised latent zq [B, c * d, h, w] -> frame [B, 3, h 2^D, w 2^D] in [0, 1] (approximately;
    clamp for display). Every normalisation is SCN conditioned on ``zq`` (eq. 10)."""

    def __init__(self, widths: tuple[int, ...], c: int, d: int) -> None:
        super().__init__()
        cond = c * d
        top = widths[-1]
        self.conv_in = nn.Conv2d(cond, top, 3, padding=1)
        self.mid = nn.ModuleList([ResBlock(top, top, cond), AttnBlock(top, cond), ResBlock(top, top, cond)])
        mods = []
        rev = list(reversed(widths))
        for i, w in enumerate(rev):
            prev = rev[max(i - 1, 0)]
            blocks: list[nn.Module] = [ResBlock(prev, w, cond), ResBlock(w, w, cond)]
            if i == 0:
                blocks.append(AttnBlock(w, cond))
            blocks.append(nn.Conv2d(w, w, 3, padding=1))  # after nearest x2 upsampling
            mods.append(nn.ModuleList(blocks))
        self.up = nn.ModuleList(mods)
        self.norm_out = _Norm(widths[0], cond)
        self.conv_out = nn.Conv2d(widths[0], 3, 3, padding=1)

    def forward(self, zq: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(zq)
        for b in self.mid:
            h = b(h, zq)
        for blocks in self.up:
            for b in blocks[:-1]:
                h = b(h, zq)
            h = blocks[-1](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return (self.conv_out(F.silu(self.norm_out(h, zq))) + 1) / 2


class MultiChannelVQ(nn.Module):
    """Eq. 9 with one shared codebook of ``L`` d-dim vectors for the ``c`` channels.

    ``forward(z)`` with z [B, c*d, h, w] -> (zq [B, c*d, h, w] (straight-through), indices
    int64 [B, c, h, w], commitment loss (scalar, already x ``commitment``)).
    ``lookup(indices)`` -> zq; ``codebook`` [L, d].
    """

    def __init__(self, c: int, d: int, L: int, decay: float = 0.99, commitment: float = 0.25,
                 dead_code: float = 2.0) -> None:
        super().__init__()
        from vector_quantize_pytorch import VectorQuantize

        self.c, self.d, self.L = c, d, L
        self.vq = VectorQuantize(dim=d, codebook_size=L, decay=decay, kmeans_init=True, kmeans_iters=10,
                                 threshold_ema_dead_code=dead_code, commitment_weight=commitment)

    @property
    def codebook(self) -> torch.Tensor:
        return self.vq.codebook.reshape(self.L, self.d)

    def _to_vectors(self, z: torch.Tensor) -> torch.Tensor:
        b, _, h, w = z.shape
        return z.reshape(b, self.c, self.d, h, w).permute(0, 1, 3, 4, 2).reshape(b, self.c * h * w, self.d)

    def _from_vectors(self, v: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b = v.shape[0]
        return v.reshape(b, self.c, h, w, self.d).permute(0, 1, 4, 2, 3).reshape(b, self.c * self.d, h, w)

    def forward(self, z: torch.Tensor):
        b, _, h, w = z.shape
        q, idx, loss = self.vq(self._to_vectors(z.float()))
        return self._from_vectors(q, h, w), idx.reshape(b, self.c, h, w).long(), loss.reshape(())

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """indices int64 [B, c, h, w] (values in [0, L)) -> zq float [B, c*d, h, w]."""
        b, c, h, w = indices.shape
        v = F.embedding(indices.reshape(b, c * h * w), self.codebook)
        return self._from_vectors(v, h, w)


def channel_mask(keep: torch.Tensor, c: int, d: int) -> torch.Tensor:
    """float [B, c*d, 1, 1]: 1 for the first ``keep[b]`` channels (of d values each), else 0."""
    ch = torch.arange(c, device=keep.device)
    m = (ch[None, :] < keep[:, None]).float()  # [B, c]
    return m.repeat_interleave(d, dim=1)[:, :, None, None]


def perplexity(indices: torch.Tensor, L: int) -> float:
    """exp(entropy) of the index histogram (L = all codes used equally often; 1 = collapse)."""
    counts = torch.bincount(indices.reshape(-1).cpu(), minlength=L).double()
    p = counts / counts.sum().clamp_min(1)
    nz = p[p > 0]
    return float(torch.exp(-(nz * nz.log()).sum()))


class MSVQ(nn.Module):
    """Encoder + multi-channel VQ + SCN decoder (one network; the codec and the trainer use it).

    Args:
        widths: channel widths of the down-sampling modules (the frame is reduced by
            ``2 ** len(widths)`` per side).
        c: channels (vectors per position); d: vector dimension; L: codebook size (B = log2 L).
        levels: the channel counts ``keep`` a stream may use (nested channels).
    """

    def __init__(self, widths=(32, 64, 96), c: int = 8, d: int = 8, L: int = 1024, levels=(2, 3, 4, 6, 8),
                 commitment: float = 0.25, decay: float = 0.99) -> None:
        super().__init__()
        if L < 2 or L & (L - 1):
            raise ValueError(f"codebook size L must be a power of two >= 2, got {L}")
        if not levels or any(not 1 <= k <= c for k in levels) or list(levels) != sorted(set(levels)):
            raise ValueError(f"levels must be increasing channel counts in 1..{c}, got {levels}")
        self.widths, self.c, self.d, self.L, self.levels = tuple(widths), c, d, L, tuple(levels)
        self.commitment, self.decay = commitment, decay
        self.encoder = MSVQEncoder(self.widths, c, d)
        self.quantizer = MultiChannelVQ(c, d, L, decay=decay, commitment=commitment)
        self.decoder = MSVQDecoder(self.widths, c, d)

    @property
    def factor(self) -> int:
        return 2 ** len(self.widths)

    @property
    def bits_per_index(self) -> int:
        return int(math.log2(self.L))

    def config(self) -> dict:
        return {"widths": list(self.widths), "c": self.c, "d": self.d, "L": self.L, "levels": list(self.levels),
                "commitment": self.commitment, "decay": self.decay}

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> dict:
        """Training/validation pass: x [B, 3, H, W], keep int64 [B] -> x_hat, indices, vq_loss."""
        z = self.encoder(x)
        zq, idx, vq_loss = self.quantizer(z)
        zq = zq * channel_mask(keep, self.c, self.d).to(zq.dtype)
        return {"x_hat": self.decoder(zq), "indices": idx, "vq_loss": vq_loss}

    @torch.no_grad()
    def encode_indices(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, 3, H, W] -> indices int64 [B, c, h, w] (all channels; send a prefix)."""
        z = self.encoder(x).float()
        b, _, h, w = z.shape
        v = self.quantizer._to_vectors(z)  # [B, c h w, d]
        cb = self.quantizer.codebook
        dist = (v.pow(2).sum(-1, keepdim=True) - 2 * v @ cb.t() + cb.pow(2).sum(-1)[None, None])
        return dist.argmin(-1).reshape(b, self.c, h, w)

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor, keep: int) -> torch.Tensor:
        """indices int64 [B, keep, h, w] (values clipped to [0, L)) -> frames [B, 3, h f, w f] in [0, 1]."""
        b, k, h, w = indices.shape
        if not 1 <= k <= self.c:
            raise ValueError(f"keep must be in 1..{self.c}, got {k}")
        full = torch.zeros(b, self.c, h, w, dtype=torch.long, device=indices.device)
        full[:, :k] = indices.clamp(0, self.L - 1)
        zq = self.quantizer.lookup(full) * channel_mask(torch.full((b,), k, device=indices.device), self.c, self.d)
        return self.decoder(zq).clamp(0, 1)
