"""``gan-c2f``: the GAN-based coarse-to-fine image semantic codec (seed 001), bytes in, bytes out.

>>> codec = get_codec("gan-c2f")                 # the shipped zoo (semlink/zoo/manifest.json)
>>> codec.rate_table()                            # quality -> (base channels, enhancement layer)
>>> enc = codec.encode(image, quality=2)          # or bpp=0.08: the largest point within it
>>> rec = codec.decode(enc)                       # over a link: codec.decode(received)

Rate points (``quality``, 1-based): every pair (base level, enhancement layer), base level
varying fastest, enhancement ``none`` first. With base levels (4, 8) latent channels and one
enhancement layer ``e1``: q1 = base 4 only, q2 = base 8 only, q3 = base 4 + e1, q4 = base 8
+ e1. Moving from q2 to q3 moves bits from the base (generated, perceptual) to the
enhancement layer (residual, MSE): the perception-distortion trade-off.

Transmitted parts, in priority order (every byte the decoder reads; ``num_bits`` counts all):

* ``"header"``: version|quality (1 byte: 3 + 5 bits), H, W and the byte lengths of the four
  other parts (unsigned LEB128 varints);
* ``"map"``: the unsupervised 16x16-block class map (colour or VGG-16 k-means, as the base
  layer was trained), raw DEFLATE (:mod:`.semantic_map`);
* ``"base"``: rANS string of the base latent's kept channels (CompressAI entropy bottleneck);
* ``"enh_z"``, ``"enh_y"``: rANS strings of the enhancement layer's hyper-latent and latent
  (empty for base-only points).

Images are padded to multiples of 64 (edge replicate) and the output cropped back.

Decoding never raises. Header unusable -> mid-grey, ``decoded_ok=False``. A lost packet of the
header (its fields may be wrong although they parse), the map or the base string (failed CRC)
gives mid-grey with option ``on_loss = "conceal"`` (default:
a wrong class map or a desynchronised base string generates an image far below mid-grey), or the
partly wrong generated image with ``on_loss = "decode"``; either way ``decoded_ok=False`` and the
reason (bytes that are wrong with a passing CRC can only be decoded). A damaged
or lost enhancement layer (a packet with a failed CRC in ``enh_z``/``enh_y``, a length that
disagrees with the header, or a string failing the rANS integrity check) is DROPPED: the
output is the base image alone (``decoded_ok=False``, reason "enhancement dropped ...",
``recovered`` = base bits / all bits), so a lost enhancement layer degrades to the base layer
instead of adding a wrong residual. A conditional enhancement layer (v2, :mod:`.model`) reads
the base image on both sides; the decoder has it before it decodes the enhancement.

Determinism: the base image is generated on the CPU in float32 by the encoder (to form the
residual) and by the decoder; symbols and probability tables are computed on the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from semlink.codecs._util import check_context, check_on_loss, grey, lost_parts_reason, one_rate, pack_fields, unpack_fields, validate_image
from semlink.codecs.base import Codec, Encoded, Reconstruction
from semlink.codecs.received import Received
from semlink.codecs.registry import register_codec
from semlink.models import MODELS

CODEC = "gan-c2f"
VERSION = 1
PAD = 64
BLOCK = 16
MAX_QUALITY = 31
PARTS = ("header", "map", "base", "enh_z", "enh_y")


def pack_header(h: int, w: int, quality: int, lengths: tuple[int, int, int, int]) -> bytes:
    """Header bytes: version|quality, H, W, len(map), len(base), len(enh_z), len(enh_y)."""
    return pack_fields(VERSION, quality, (h, w, *lengths), MAX_QUALITY)


def unpack_header(buf: bytes) -> tuple[int, int, int, tuple[int, ...]]:
    """-> (H, W, quality, (len_map, len_base, len_enh_z, len_enh_y)); StreamError if malformed."""
    quality, vals = unpack_fields(buf, VERSION, 6)
    return vals[0], vals[1], quality, tuple(vals[2:])


class _Models:
    """The loaded base layer and enhancement layers (CPU, eval) with their entropy coders."""

    def __init__(self, base_ckpt: dict, enh_ckpts: list[dict]) -> None:
        from semlink.entropy import FactorizedCoder
        from semlink.nn.hyperprior import HyperpriorModel

        from .checkpoint import load_base, load_enhancement

        self.base = load_base(base_ckpt)
        self.base_coder = FactorizedCoder(self.base.entropy_bottleneck)
        self.centres = self.base.centres.detach().cpu().numpy().astype(np.float64)
        self.enh = [HyperpriorModel(load_enhancement(ck, base_ckpt.get("path")), "cpu") for ck in enh_ckpts]


@register_codec(CODEC)
class GanC2FCodec(Codec):
    """Base layer (unsupervised map + SPADE generator) + residual enhancement layer."""

    zoo_codecs = ("gan-c2f",)
    kind = "image"
    rate_keys = ("bpp", "quality")

    def __init__(self, base: str | None = None, enhancement: list[str] | str | None = None, manifest: str | None = None,
                 on_loss: str = "conceal") -> None:
        """Args:
            base: a user-trained base checkpoint (``gan-c2f-base.pt``); default: the zoo's.
            enhancement: enhancement checkpoints (``gan-c2f-enh.pt``, a list or one path),
                used with ``base``; default with ``base``: none.
            manifest: another zoo (``manifest.json`` or its directory) instead of the shipped one.
            on_loss: ``"conceal"`` (default) or ``"decode"``: what a lost map or base packet gives.
        """
        self.on_loss = check_on_loss(on_loss)
        if manifest is not None and base is not None:
            raise ValueError(f"{CODEC}: give base= (and enhancement=) or manifest=, not both")
        if enhancement is not None and base is None:
            raise ValueError(f"{CODEC}: enhancement= needs base= (the base layer it was trained behind)")
        self.base_path = None if base is None else str(base)
        self.enh_paths = [] if enhancement is None else ([str(enhancement)] if isinstance(enhancement, str) else [str(p) for p in enhancement])
        self.manifest = None if manifest is None else str(manifest)

    # --- models and rate points -------------------------------------------------------
    def _models(self) -> _Models:
        """The loaded networks (once per process: :data:`semlink.models.MODELS`)."""
        return MODELS.get((CODEC, self.base_path, tuple(self.enh_paths), self.manifest), self._load_models)

    def _load_models(self) -> _Models:
        from semlink.zoo.checkpoints import (
            load_checkpoint,
            read_checkpoint,
            read_manifest,
        )

        if self.base_path is not None:
            base = read_checkpoint(self.base_path)
            enh = [read_checkpoint(p) for p in self.enh_paths]
        else:
            models, _ = read_manifest(self.manifest)
            mine = [e for e in models if e.get("codec") == CODEC]
            bases = [e for e in mine if e.get("role") == "base"]
            if len(bases) != 1:
                raise ValueError(
                    f"{CODEC}: the manifest ({self.manifest or 'semlink/zoo/manifest.json'}) lists {len(bases)} "
                    f"base layers (role = 'base'), expected 1. Train one with `semlink train gan-c2f-base "
                    f"--recipe semlink/semantic/gan_c2f/recipes/base-rd.toml` and pass base=...")
            enh_entries = sorted((e for e in mine if e.get("role") == "enhancement"), key=lambda e: e["quality"])
            base = load_checkpoint(bases[0]["name"], self.manifest)
            enh = [load_checkpoint(e["name"], self.manifest) for e in enh_entries]
        return _Models(base, enh)

    def rate_table(self) -> dict[int, tuple[int, int | None]]:
        """quality -> (base channels sent, enhancement layer index or None)."""
        m = self._models()
        levels = m.base.levels
        table: dict[int, tuple[int, int | None]] = {}
        for e in [None] + list(range(len(m.enh))):
            for keep in levels:
                table[len(table) + 1] = (int(keep), e)
        if len(table) > MAX_QUALITY:
            raise ValueError(f"{CODEC}: {len(table)} rate points do not fit the header's 5-bit quality id")
        return table

    def qualities(self) -> list[int]:
        """Rate points (quality ids, low to high rate): see :meth:`rate_table`."""
        return list(self.rate_table())

    rate_points = qualities

    def part_names(self) -> tuple[str, ...]:
        return PARTS

    # --- encode -------------------------------------------------------------------------
    def encode(self, item: np.ndarray, *, bpp: float | None = None, quality: int | None = None, **extra: Any) -> Encoded:
        """Code uint8 [H, W, 3] at a rate point (``quality``) or the largest within ``bpp``
        (all parts counted; the smallest point, ``info["target_met"] = False``, if none fits).
        Neither given: the highest quality id."""
        check_context(extra)
        image = validate_image(item)
        key, value = one_rate({"bpp": bpp, "quality": quality}, ("bpp", "quality"))
        h, w, _ = image.shape
        if max(h, w) >= 1 << 16:
            raise ValueError(f"{CODEC}: image sides must be < 65536, got {h}x{w}")
        table = self.rate_table()
        info: dict[str, Any] = {"tool": self.tool()}
        if key == "bpp":
            cands = [(sum(len(b) for b in p.values()) * 8, q, p) for q, p in ((q, self._encode_parts(image, q)) for q in table)]
            within = [c for c in cands if c[0] <= value * h * w]
            bits, q, parts = max(within) if within else min(cands)
            info.update(target_bpp=value, target_met=bool(within))
        else:
            q = max(table) if value is None else value
            if q not in table:
                raise ValueError(f"{CODEC}: quality must be one of the rate points {list(table)}, got {q!r}")
            q = int(q)
            parts = self._encode_parts(image, q)
        keep, e = table[q]
        n_bits = 8 * sum(len(b) for b in parts.values())
        info.update(quality=q, base_channels=keep, enhancement=("none" if e is None else f"e{e + 1}"), bpp=n_bits / (h * w),
                    bits_by_part={k: 8 * len(v) for k, v in parts.items()})
        return Encoded(codec=CODEC, kind="image", shape=image.shape, parts=parts, info=info)

    def _padded(self, image: np.ndarray):
        from semlink.codecs._util import padded_tensor

        return padded_tensor(image, PAD)

    def _generate(self, m: _Models, kept, labels: np.ndarray, hp: int, wp: int):
        """Base image float [1, 3, hp, wp] from the dequantised kept channels [1, keep, hp/16, wp/16]
        (the others zero) and the map (CPU fp32)."""
        import torch

        from .semantic_map import one_hot

        y = torch.zeros(1, m.base.c_latent, hp // 16, wp // 16)
        y[:, :kept.shape[1]] = kept
        with torch.inference_mode():
            return m.base.synthesize(y, one_hot(labels, m.base.k)).float()

    def _encode_parts(self, image: np.ndarray, q: int) -> dict[str, bytes]:
        import torch

        from .model import enhancement_input
        from .semantic_map import encode_map, label_map

        m = self._models()
        keep, e = self.rate_table()[q]
        h, w, _ = image.shape
        x = self._padded(image)
        hp, wp = x.shape[-2:]
        padded = (x[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        labels = label_map(padded, m.centres, BLOCK, m.base.map_features)
        map_bytes = encode_map(labels)
        with torch.inference_mode():
            y = m.base.g_a(x)
        sym = m.base_coder.symbols(y, keep)
        base_str = m.base_coder.encode_symbols(sym)
        z_str = y_str = b""
        if e is not None:
            xb = self._generate(m, m.base_coder.dequantize(sym, sym.shape), labels, hp, wp)
            z_str, y_str = m.enh[e].encode_latents(enhancement_input(m.enh[e].cpu, x, xb))
        return {"header": pack_header(h, w, q, (len(map_bytes), len(base_str), len(z_str), len(y_str))),
                "map": map_bytes, "base": base_str, "enh_z": z_str, "enh_y": y_str}

    # --- decode -------------------------------------------------------------------------
    def decode(self, received: Received) -> Reconstruction:
        """Decode; never raises (see the module docstring for what each damage does)."""
        return self._decode(received, tuple(received.shape))  # the Codec base conceals any failure

    def _decode(self, received: Received, shape: tuple[int, ...]) -> Reconstruction:
        import torch

        from .model import enhancement_output
        from .semantic_map import decode_map

        parts = received.parts
        try:
            h, w, q, lengths = unpack_header(parts.get("header", b""))
        except ValueError as exc:
            return Reconstruction(grey(shape), False, f"unreadable header: {exc}")
        if (h, w) != tuple(shape[:2]):
            return Reconstruction(grey(shape), False, f"header announces {w}x{h}, expected {shape[1]}x{shape[0]}; not decoded")
        table = self.rate_table()
        if q not in table:
            return Reconstruction(grey(shape), False, f"header names quality {q}, not one of {list(table)}; not decoded")
        core = {n: p.packet_ok for n, p in received.packets.items() if n in ("header", "map", "base")}
        if self.on_loss == "conceal" and not all(ok.all() for ok in core.values()):
            return Reconstruction(grey(shape), False, lost_parts_reason(core))
        m = self._models()
        keep, e = table[q]
        hp, wp = -(-h // PAD) * PAD, -(-w // PAD) * PAD
        problems: list[str] = []
        data = {n: bytes(parts.get(n, b"")) for n in PARTS[1:]}
        for n, want in zip(PARTS[1:], lengths):
            if len(data[n]) != want:
                problems.append(f"{n} part has {len(data[n])} bytes, header says {want}")
        labels, pm = decode_map(data["map"], hp // BLOCK, wp // BLOCK, m.base.k)
        if pm:
            problems.append(f"map: {pm}")
        kept, pb = m.base_coder.decode(data["base"], (1, keep, hp // 16, wp // 16))
        if pb:
            problems.append(f"base string: {pb}")
        x = self._generate(m, kept, labels, hp, wp)
        recovered = None
        if e is not None:
            lost = [n for n in ("enh_z", "enh_y")
                    if (n in received.packets and not received.packets[n].ok) or len(data[n]) != lengths[PARTS.index(n) - 1]]
            if lost:
                enh_problem = f"enhancement dropped ({', '.join(lost)} lost or damaged in transit)"
            else:
                r, pe = m.enh[e].decode_latents(data["enh_z"], data["enh_y"], hp, wp)
                enh_problem = f"enhancement dropped (rANS: {'; '.join(pe)})" if pe else ""
                if not pe:
                    with torch.inference_mode():
                        x = enhancement_output(m.enh[e].cpu, torch.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0), x)
            if enh_problem:
                problems.append(enh_problem)
                total = sum(lengths) + len(parts.get("header", b""))
                recovered = (total - lengths[2] - lengths[3]) / max(total, 1)
        x = torch.nan_to_num(x, nan=0.5).clamp_(0, 1)
        img = np.ascontiguousarray((x[0, :, :h, :w].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8))
        if problems:
            return Reconstruction(img, False, "; ".join(problems), recovered)
        return Reconstruction(img, True, "")

    def tool(self) -> str:
        from semlink.entropy import compressai_version

        return f"semlink gan-c2f v{VERSION} (CompressAI {compressai_version()} entropy coding + rANS)"
