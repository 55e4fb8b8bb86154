"""The registered set codec ``seb``: image sets coded with explicit semantic bases (Fig. 1).

Transmitter (:meth:`SebCodec.encode_set`), for a set of n images at rate level ``quality`` (1..6 =
lambda 64, 128, 256, 512, 1024, 2048; the paper's four lambdas are 3..6):

1. **Set splitting** (eq. 1, :mod:`.splitting`): J subsets.
2. **Sebs** (eq. 2): per subset j, the n_j x n_p patches (32x32) -> Seb generator -> k-means with
   K_j = floor(n_j n_p / 25) -> Sebs S_j (quantised, entropy coded: part ``sebs``) and usage A_j
   (part ``usage``). Reference images I^ref from the *quantised* Sebs, as the receiver builds them (eq. 4).
3. **Seb-based encoder** (Fig. 3): per image, flow to its reference, motion latent Z^m (parts
   ``motion_z``, ``motion_y``), motion compensation, residual latent Z^r (part ``residual``).

Shared parts (once per set): ``header``, ``sebs``, ``usage``; per image: ``motion_z``, ``motion_y``,
``residual``. Every bit is in a part (:mod:`.bitstream`). The networks' weights (Seb generator, reference
patch generator, inter coder, entropy models) are the shared knowledge of both ends, as in the paper.

Receiver (:meth:`SebCodec.decode_set`): header (CRC) -> Sebs -> usage -> reference images (eq. 4) ->
per image prediction + residual. Never raises: a failed header conceals the set (grey). What a
damaged part gives is the option ``on_loss``:

* ``"conceal"`` (default): lost Sebs or usage packets conceal the set (mid-grey: every reference
  would be wrong); an image whose own packets (motion, residual) are lost shows its Seb
  reference image (the receiver's prediction of it, made from intact shared parts); both with
  ``decoded_ok=False`` and the lost parts named.
* ``"decode"``: damaged Sebs, usage or latents decode to wrong values, with ``decoded_ok=False``
  and the reason (a study of damaged decoding; often far below mid-grey).

Images of any size: each is padded (edge replicated) to a multiple of 64 and cropped back.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from semlink.codecs import Encoded, EncodedSet, Reconstruction, ReceivedSet, SetCodec, register_codec
from semlink.codecs._util import check_on_loss, grey, lost_parts_reason, one_rate, padded_tensor, tensor_image, validate_image
from semlink.models import MODELS

from .bitstream import SetHeader, pack_usage, unpack_usage
from .model import LAMBDAS, PATCH, seb_clusters

CODEC = "seb"
SHARED = ("header", "sebs", "usage")
OWN = ("motion_z", "motion_y", "residual")
MULTIPLE = 64


def _pad(img: np.ndarray):
    """uint8 [H, W, 3] -> float tensor [1, 3, Hp, Wp] (edge-replicated to multiples of 64)."""
    return padded_tensor(img, MULTIPLE)


def _to_uint8(x, h: int, w: int) -> np.ndarray:
    return tensor_image(x, h, w)


def load_model(checkpoint: str | None = None, manifest: str | None = None, name: str = "seb"):
    """The SebModel of a checkpoint file or of the zoo entry ``name`` (loaded once per process:
    :data:`semlink.models.MODELS`)."""

    def load():
        from semlink.zoo.checkpoints import load_checkpoint, read_checkpoint

        from .checkpoint import load_seb

        return load_seb(read_checkpoint(checkpoint) if checkpoint else load_checkpoint(name, manifest))

    return MODELS.get((CODEC, checkpoint, manifest, name), load)


@register_codec(CODEC)
class SebCodec(SetCodec):
    """Seb-based image set transmission (seed 000). Rate key ``quality`` 1..6 (lambda 64..2048; the paper's four are 3..6).

    Options:
        checkpoint: a Seb checkpoint file (default: the zoo's ``seb``).
        manifest: another zoo manifest.
        split: ``"inertia"`` (eq. 1 with the J rule of :mod:`.splitting`), ``"none"`` (one
            subset), or an int J.
        projector: f_alpha of eq. 1: ``"imagenet"`` (default: ImageNet VGG-16 relu5_3 features,
            the offline stand-in for the paper's ResNet-50) or ``"seb"`` (v1: the Seb generator's
            pooled patch latents); see :mod:`.splitting`.
        kdiv: K = floor(n_j n_p / kdiv) (the paper: 25).
        seed: k-means seed.
        reference: ``"sebs"`` (the system) or ``"grey"`` (ablation: no Sebs, no usage; every image's
            reference is mid-grey, so the inter coder codes it alone; both ends must agree).
        on_loss: ``"conceal"`` (default) or ``"decode"``: what damaged parts give (module docstring).
    """

    zoo_codecs = ("seb",)
    kind = "image"
    rate_keys = ("quality",)
    native_rate_key = "quality"
    shared_part_names = SHARED

    def __init__(self, checkpoint: str | None = None, manifest: str | None = None, split: str | int = "inertia",
                 kdiv: int = 25, seed: int = 0, reference: str = "sebs", on_loss: str = "conceal",
                 projector: str = "imagenet") -> None:
        from .splitting import PROJECTORS

        if checkpoint is not None and manifest is not None:
            raise ValueError(f"{CODEC}: give checkpoint= or manifest=, not both")
        if not (split in ("inertia", "none") or (isinstance(split, int) and not isinstance(split, bool) and split >= 1)):
            raise ValueError(f"{CODEC}: split must be 'inertia', 'none' or a positive int J, got {split!r}")
        if not isinstance(kdiv, int) or isinstance(kdiv, bool) or kdiv < 1:
            raise ValueError(f"{CODEC}: kdiv must be a positive int, got {kdiv!r}")
        if reference not in ("sebs", "grey"):
            raise ValueError(f"{CODEC}: reference must be 'sebs' or 'grey', got {reference!r}")
        if projector not in PROJECTORS:
            raise ValueError(f"{CODEC}: projector must be one of {PROJECTORS}, got {projector!r}")
        self.projector = projector
        self.checkpoint, self.manifest, self.split, self.kdiv, self.seed = checkpoint, manifest, split, kdiv, int(seed)
        self.reference = reference
        self.on_loss = check_on_loss(on_loss)

    def rate_points(self) -> list[Any]:
        return list(range(1, len(LAMBDAS) + 1))

    def part_names(self) -> tuple[str, ...]:
        return SHARED + OWN

    def model(self):
        return load_model(self.checkpoint, self.manifest)

    def tool(self) -> str:
        """What decides the rows besides the options in a row key (the set-splitting projector)."""
        return f"seb (projector {self.projector})"

    # ------------------------------------------------------------------ transmitter
    def encode_set(self, items: Sequence[np.ndarray], **rate: Any) -> EncodedSet:
        import torch

        from semlink.entropy import FactorizedCoder

        from .splitting import project, split

        key, value = one_rate(rate, self.rate_keys)
        q = 3 if value is None else int(value)
        if q != value and value is not None or not 1 <= q <= len(LAMBDAS):
            raise ValueError(f"{CODEC}: quality must be one of 1..{len(LAMBDAS)}, got {value!r}")
        imgs = [validate_image(x) for x in items]
        if not imgs:
            raise ValueError(f"{CODEC}: an image set needs at least one image")
        level = q - 1
        m = self.model()
        xs = [_pad(im) for im in imgs]
        lv = torch.tensor([level])
        with torch.inference_mode():
            proj = project(self.projector, m, xs)
            labels = split(proj, self.split, self.seed)
            feats = [m.features(x, lv).float() for x in xs]
            seb_coder = FactorizedCoder(m.seb_entropy)
            med = seb_coder.medians
            ks, sebs_hat, usage_digits, radices = [], [], [None] * len(xs), [None] * len(xs)
            refs = [None] * len(xs)
            for j in range(int(labels.max()) + 1):
                members = [i for i in range(len(xs)) if labels[i] == j]
                f = torch.cat([feats[i] for i in members])
                k = max(1, f.shape[0] // self.kdiv)
                centres, usage = seb_clusters(f.flatten(1).numpy(), k, self.seed)
                k = centres.shape[0]
                s = torch.from_numpy(centres).reshape(k, *f.shape[1:])
                s_hat = torch.round(s - med) + med
                ks.append(k)
                sebs_hat.append(s)
                ref_patches = m.ref_gen(m.seb_gain.unscale(s_hat, lv.expand(k))).float()
                start = 0
                for i in members:
                    p = feats[i].shape[0]
                    u = usage[start: start + p]
                    start += p
                    usage_digits[i], radices[i] = u, np.full(p, k, dtype=np.int64)
                    _, _, hp, wp = xs[i].shape
                    from .model import concat

                    refs[i] = concat(ref_patches[torch.from_numpy(u)], 1, hp, wp)
            header = SetHeader(level, tuple(ks), tuple((im.shape[0], im.shape[1]) for im in imgs), tuple(labels.tolist()))
            shared = {"header": header.pack(), "sebs": seb_coder.encode(torch.cat(sebs_hat)),
                      "usage": pack_usage(np.concatenate(usage_digits), np.concatenate(radices))}
            if self.reference == "grey":  # ablation: nothing of the Sebs is sent or used
                shared["sebs"], shared["usage"] = b"", b""
                refs = [torch.full_like(x, 0.5) for x in xs]
            encs = []
            for i, (im, x) in enumerate(zip(imgs, xs)):
                strings, _ = m.inter.compress(refs[i], x, level)
                encs.append(Encoded(CODEC, "image", im.shape, {k2: strings[k2] for k2 in OWN},
                                    {"subset": int(labels[i]), "k": int(ks[labels[i]])}))
        info = {"quality": q, "lambda": LAMBDAS[level], "subsets": int(labels.max()) + 1, "ks": list(ks),
                "split": str(self.split), "n": len(imgs), "reference": self.reference}
        return EncodedSet(CODEC, shared, tuple(encs), info)

    # ------------------------------------------------------------------ receiver
    def decode_set(self, received: ReceivedSet) -> list[Reconstruction]:
        # the Codec base conceals any failure (semlink.codecs.base.guarded)
        return self._decode_set(received, [tuple(r.shape) for r in received.items])

    def _decode_set(self, received: ReceivedSet, shapes) -> list[Reconstruction]:
        import torch

        sp = received.shared_parts
        try:
            hdr = SetHeader.parse(sp.get("header", b""))
        except ValueError as exc:
            return [Reconstruction(grey(s), False, f"set header unusable ({exc}); set concealed") for s in shapes]
        if hdr.n != len(shapes) or not 0 <= hdr.level < len(LAMBDAS):
            return [Reconstruction(grey(s), False, f"set header announces {hdr.n} images at level {hdr.level}, "
                                   f"received {len(shapes)}; set concealed") for s in shapes]
        conceal = self.on_loss == "conceal"
        shared_lost = {k: p.packet_ok for k, p in received.shared.items() if k != "header" and not p.ok}
        if conceal and shared_lost and self.reference == "sebs":
            why = lost_parts_reason(shared_lost, "set concealed")
            return [Reconstruction(grey(s), False, why) for s in shapes]
        m = self.model()
        refs, shared_problems = self._references(m, hdr, sp.get("sebs", b""), sp.get("usage", b""))
        if self.reference != "sebs":
            shared_problems = []
        out = []
        with torch.inference_mode():
            for i, ((h, w), ref) in enumerate(zip(hdr.sizes, refs)):
                if self.reference != "sebs":
                    ref = torch.full_like(ref, 0.5)
                if conceal and not received.items[i].ok:
                    img = _to_uint8(ref, h, w)
                    img = img if img.shape == shapes[i] else grey(shapes[i])
                    shown = "Seb reference shown" if self.reference == "sebs" else "concealed"
                    out.append(Reconstruction(img, False, lost_parts_reason(received.items[i].part_ok, shown)))
                    continue
                strings = {k2: bytes(received.items[i].parts.get(k2, b"")) for k2 in OWN}
                x_hat, problems = m.inter.decompress(ref, strings, hdr.level)
                problems = shared_problems + problems
                img = _to_uint8(x_hat, h, w)
                if img.shape != shapes[i]:
                    from semlink.codecs._util import fit_to_shape

                    img = fit_to_shape(img, shapes[i])
                    problems.append(f"header size {h}x{w} differs from the item's {shapes[i][0]}x{shapes[i][1]}")
                out.append(Reconstruction(img, not problems, "; ".join(problems)))
        return out

    @staticmethod
    def _references(m, hdr: SetHeader, sebs: bytes, usage: bytes):
        """Eq. 4 at the receiver: ([1, 3, Hp, Wp] reference per image, problems) from the received
        Sebs and usage parts (damaged parts decode to wrong values and a problem entry)."""
        import torch

        from semlink.entropy import FactorizedCoder

        from .model import concat

        problems = []
        s_hat, p = FactorizedCoder(m.seb_entropy).decode(sebs, (sum(hdr.ks), m.seb_entropy.channels, PATCH // 16, PATCH // 16))
        if p:
            problems.append(f"sebs: {p}")
        padded = [(-(-h // MULTIPLE) * MULTIPLE, -(-w // MULTIPLE) * MULTIPLE) for h, w in hdr.sizes]
        n_p = [(hp // PATCH) * (wp // PATCH) for hp, wp in padded]
        radices = np.concatenate([np.full(npi, hdr.ks[j], dtype=np.int64) for npi, j in zip(n_p, hdr.subsets)])
        digits, p = unpack_usage(usage, radices)
        if p:
            problems.append(p)
        offsets = np.concatenate([[0], np.cumsum(hdr.ks)])
        lv = torch.tensor([hdr.level])
        refs, start = [], 0
        with torch.inference_mode():
            patches = {j: m.ref_gen(m.seb_gain.unscale(s_hat[offsets[j]: offsets[j + 1]], lv.expand(k))).float()
                       for j, k in enumerate(hdr.ks)}
            for i, ((hp, wp), j) in enumerate(zip(padded, hdr.subsets)):
                u = torch.from_numpy(digits[start: start + n_p[i]])
                start += n_p[i]
                refs.append(concat(patches[j][u], 1, hp, wp))
        return refs, problems

    def reference_images(self, items: Sequence[np.ndarray], quality: int = 3) -> list[np.ndarray]:
        """The Seb-only representation (Fig. 6(f)): each image's reference I^ref as the receiver builds it."""
        es = self.encode_set(items, quality=quality)
        hdr = SetHeader.parse(es.shared["header"])
        refs, _ = self._references(self.model(), hdr, es.shared["sebs"], es.shared["usage"])
        return [_to_uint8(r, h, w) for r, (h, w) in zip(refs, hdr.sizes)]
