"""``dvc-pair``: the "DL w/ corr." baseline of the Seb paper (Sec. IV-A, ref. [16], DVC): images of a set
coded as pairs (reference image + target), in the set's order.

The first image is intra-coded by the hyperprior (the zoo's ``hyperprior`` rate point ``intra``
for the chosen level, the "DL w/o corr." codec); every later image is predicted from the *decoded*
previous image (``reference = "previous"``, DVC's P-frame chain) or from the decoded first image
(``reference = "first"``): optical flow, motion compression (scale hyperprior), warping + motion
compensation, residual compression (factorized prior), by :class:`semlink.nn.dvc.InterCoder`.

The inter coder is the one trained in the ``seb`` run (the same structure and weights the Seb
codec uses, trained on pairs of crops of one image in the same run), so the two codecs differ only in
their reference: Sebs (shared parts) vs a decoded image of the set.

Parts: shared ``header`` (level, n, sizes, CRC-32); image 0: ``intra_header``, ``intra_z``,
``intra_y`` (the hyperprior's parts); images 1..n-1: ``motion_z``, ``motion_y``, ``residual``.
Decoding never raises. Option ``on_loss``: ``"conceal"`` (default) decodes an image only when its
own packets and those of every image its prediction chain starts from arrived intact, else
conceals it (mid-grey: a wrong reference makes the prediction wrong, and another image of the
set is no concealment for this one); ``"decode"`` decodes every image from whatever arrived, a
lost image damaging the chain after it (reported per image). The intra image follows the
hyperprior's own ``on_loss``, the same value.

Rate key ``quality`` 1..6 = lambda 64, 128, 256, 512, 1024, 2048 (the Seb codec's levels, on the
[0, 1] MSE scale, i.e. CompressAI lambdas 0.00098 .. 0.0315); the intra image uses the hyperprior
rate point whose training lambda is nearest (in log scale) to the level's: with the shipped v3
hyperprior (lambdas 0.0009 .. 0.0932) qualities 1, 2, 3, 4, 5, 6 (:meth:`DvcPairCodec.intra_quality`).
"""

from __future__ import annotations

import zlib
from typing import Any, Sequence

import numpy as np

from semlink.codecs._util import (check_on_loss, fit_to_shape, grey, lost_parts_reason, one_rate, padded_tensor, read_varint, tensor_image,
                                  validate_image, write_varint)
from semlink.codecs.base import Encoded, EncodedSet, Reconstruction, ReceivedSet, SetCodec
from semlink.codecs.received import Received
from semlink.codecs.registry import register_codec
from semlink.models import MODELS

CODEC = "dvc-pair"
LAMBDAS = (64, 128, 256, 512, 1024, 2048)
MSE_SCALE = 255.0**2  # CompressAI's lambda x 255^2 = lambda on the [0, 1] MSE scale
INTRA = ("intra_header", "intra_z", "intra_y")
INTER = ("motion_z", "motion_y", "residual")
MULTIPLE = 64


def load_inter(checkpoint: str | None = None, manifest: str | None = None, name: str = CODEC):
    """The InterCoder held by a Seb checkpoint (file, or the zoo entry ``name``), CPU, eval, tables
    ready (loaded once per process: :data:`semlink.models.MODELS`)."""

    def load():
        from semlink.zoo.checkpoints import CheckpointError, load_checkpoint, read_checkpoint

        from .checkpoint import load_seb

        ck = read_checkpoint(checkpoint) if checkpoint else load_checkpoint(name, manifest)
        if ck.get("config", {}).get("inter") is None:
            raise CheckpointError(f"{ck.get('path')}: holds no inter coder (config has no 'inter')")
        return load_seb(ck).inter

    return MODELS.get((CODEC, checkpoint, manifest, name), load)


def _pack_header(level: int, sizes) -> bytes:
    out = bytearray([1, level]) + write_varint(len(sizes))
    for h, w in sizes:
        out += write_varint(h) + write_varint(w)
    return bytes(out) + zlib.crc32(bytes(out)).to_bytes(4, "big")


def _parse_header(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    data = bytes(data)
    if len(data) < 7 or zlib.crc32(data[:-4]).to_bytes(4, "big") != data[-4:]:
        raise ValueError("set header failed its CRC-32")
    body = data[:-4]
    if body[0] != 1 or not 0 <= body[1] < len(LAMBDAS):
        raise ValueError("unknown header version or level")
    n, pos = read_varint(body, 2)
    sizes = []
    for _ in range(n):
        h, pos = read_varint(body, pos)
        w, pos = read_varint(body, pos)
        sizes.append((h, w))
    if pos != len(body):
        raise ValueError("trailing bytes in the set header")
    return body[1], sizes


def _tensor(img: np.ndarray):
    return padded_tensor(img, MULTIPLE)


def _uint8(x, h, w) -> np.ndarray:
    return tensor_image(x, h, w)


@register_codec(CODEC)
class DVCPairCodec(SetCodec):
    """DVC-style pair coding of an image set ("DL w/ corr."). Rate key ``quality`` 1..6.

    Options: ``checkpoint`` (a Seb checkpoint holding the inter coder; default: the zoo's
    ``dvc-pair`` entry), ``manifest``, ``reference`` ("previous" | "first").
    """

    zoo_codecs = ("dvc-pair", "hyperprior")  # its intra image is the hyperprior's
    kind = "image"
    rate_keys = ("quality",)
    native_rate_key = "quality"
    shared_part_names = ("header",)

    def __init__(self, checkpoint: str | None = None, manifest: str | None = None, reference: str = "previous",
                 on_loss: str = "conceal") -> None:
        self.on_loss = check_on_loss(on_loss)
        if checkpoint is not None and manifest is not None:
            raise ValueError(f"{CODEC}: give checkpoint= or manifest=, not both")
        if reference not in ("previous", "first"):
            raise ValueError(f"{CODEC}: reference must be 'previous' or 'first', got {reference!r}")
        self.checkpoint, self.manifest, self.reference = checkpoint, manifest, reference
        from semlink.codecs.hyperprior import HyperpriorCodec

        self._intra = HyperpriorCodec(manifest=manifest, on_loss=self.on_loss)

    def rate_points(self) -> list[Any]:
        return list(range(1, len(LAMBDAS) + 1))

    def intra_quality(self, level: int) -> int:
        """The hyperprior rate point of the intra image at 0-based ``level``: the one whose training
        lambda is nearest to ``LAMBDAS[level]`` in log scale (ties: the lower rate)."""
        lams = {q: lam for q, lam in self._intra.lambdas().items() if lam}
        if not lams:
            raise ValueError(f"{CODEC}: the hyperprior's rate points do not record their lambdas; cannot choose the intra point")
        target = np.log(LAMBDAS[level] / MSE_SCALE)
        return min(lams, key=lambda q: (abs(np.log(lams[q]) - target), q))

    def part_names(self) -> tuple[str, ...]:
        return ("header",) + INTRA + INTER

    def inter(self):
        return load_inter(self.checkpoint, self.manifest)

    def encode_set(self, items: Sequence[np.ndarray], **rate: Any) -> EncodedSet:
        _, value = one_rate(rate, self.rate_keys)
        q = 3 if value is None else int(value)
        if value is not None and q != value or not 1 <= q <= len(LAMBDAS):
            raise ValueError(f"{CODEC}: quality must be one of 1..{len(LAMBDAS)}, got {value!r}")
        imgs = [validate_image(x) for x in items]
        if not imgs:
            raise ValueError(f"{CODEC}: an image set needs at least one image")
        level = q - 1
        intra_q = self.intra_quality(level)
        intra = self._intra.encode(imgs[0], quality=intra_q)
        first = self._intra.decode(intra)
        encs = [Encoded(CODEC, "image", imgs[0].shape, {f"intra_{k}": v for k, v in intra.parts.items()},
                        {"type": "intra", "intra_quality": intra_q})]
        first_t = _tensor(first.data)
        prev_t = first_t
        m = self.inter()
        for im in imgs[1:]:
            ref = prev_t if self.reference == "previous" else first_t
            ref = self._fit(ref, im)
            strings, x_hat = m.compress(ref, _tensor(im), level)
            encs.append(Encoded(CODEC, "image", im.shape, dict(strings), {"type": "inter"}))
            prev_t = _tensor(_uint8(x_hat, im.shape[0], im.shape[1]))
        shared = {"header": _pack_header(level, [(im.shape[0], im.shape[1]) for im in imgs])}
        return EncodedSet(CODEC, shared, tuple(encs), {"quality": q, "lambda": LAMBDAS[level], "reference": self.reference,
                                                       "intra_quality": intra_q, "n": len(imgs)})

    @staticmethod
    def _fit(ref, im: np.ndarray):
        """The reference padded/cropped to the target's padded size (sets may mix sizes)."""
        import torch.nn.functional as F

        hp, wp = -(-im.shape[0] // MULTIPLE) * MULTIPLE, -(-im.shape[1] // MULTIPLE) * MULTIPLE
        if ref.shape[-2:] == (hp, wp):
            return ref
        ref = ref[..., :hp, :wp]
        return F.pad(ref, (0, wp - ref.shape[-1], 0, hp - ref.shape[-2]), mode="replicate")

    def decode_set(self, received: ReceivedSet) -> list[Reconstruction]:
        # the Codec base conceals any failure (semlink.codecs.base.guarded)
        return self._decode_set(received, [tuple(r.shape) for r in received.items])

    def _decode_set(self, received: ReceivedSet, shapes) -> list[Reconstruction]:
        try:
            level, sizes = _parse_header(received.shared_parts.get("header", b""))
        except ValueError as exc:
            return [Reconstruction(grey(s), False, f"set header unusable ({exc}); set concealed") for s in shapes]
        if len(sizes) != len(shapes):
            return [Reconstruction(grey(s), False, "set header announces another number of images; set concealed")
                    for s in shapes]
        r0 = received.items[0]
        intra_rx = Received(r0.codec, r0.kind, r0.shape,
                            {k[len("intra_"):]: p for k, p in r0.packets.items() if k.startswith("intra_")})
        first = self._intra.decode(intra_rx)
        out = [first]
        first_t = prev_t = _tensor(first.data)
        m = self.inter()
        broken = "" if first.decoded_ok else "reference chain damaged at image 0"
        conceal = self.on_loss == "conceal"
        for i in range(1, len(shapes)):
            h, w = sizes[i]
            own_ok = received.items[i].ok
            chain_ok = not broken if self.reference == "previous" else first.decoded_ok
            if conceal and not (own_ok and chain_ok):
                why = (lost_parts_reason(received.items[i].part_ok) if not own_ok
                       else f"{broken or 'reference chain damaged at image 0'}; concealed")
                out.append(Reconstruction(grey(shapes[i]), False, why))
                if self.reference == "previous":
                    broken = broken or f"reference chain damaged at image {i}"
                continue
            ref = prev_t if self.reference == "previous" else first_t
            tgt_shape = (h, w, 3)
            ref = self._fit(ref, np.empty(tgt_shape, np.uint8))
            strings = {k: bytes(received.items[i].parts.get(k, b"")) for k in INTER}
            x_hat, problems = m.decompress(ref, strings, level)
            img = _uint8(x_hat, h, w)
            if img.shape != shapes[i]:
                img = fit_to_shape(img, shapes[i])
                problems.append("header size differs from the item's")
            if broken:
                problems.insert(0, broken)
            out.append(Reconstruction(img, not problems, "; ".join(problems)))
            if problems and not broken and self.reference == "previous":
                broken = f"reference chain damaged at image {i}"
            prev_t = _tensor(img)
        return out
