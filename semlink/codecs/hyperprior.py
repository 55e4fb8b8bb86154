"""``hyperprior``: learned image codec — CompressAI's ScaleHyperprior (Ballé et al., ICLR 2018)
or MeanScaleHyperprior (Minnen et al., NeurIPS 2018, without the autoregressive context model;
also with gain units, one file for every rate point), with real rANS bitstreams. Each checkpoint names its architecture; the shipped zoo's is listed
in ``semlink/zoo/manifest.json``.

>>> codec = get_codec("hyperprior")                  # shipped rate points (semlink/zoo/manifest.json)
>>> codec.qualities()                                 # e.g. [1, 2, 3, 4]; [] while none is shipped
>>> enc = codec.encode(image, quality=2)              # or bpp=0.3: highest point with rate <= 0.3
>>> get_codec("hyperprior", checkpoint="runs/q1/hyperprior.pt")   # a user-trained file
>>> get_codec("hyperprior", device="cuda")            # analysis/synthesis on the GPU

Options: ``checkpoint`` (one user-trained checkpoint file; its rate point is the ``quality``
stored in it, default 1), ``manifest`` (another zoo: a ``manifest.json`` or its directory;
default the shipped one), ``device`` (``"cpu"`` default, or ``"cuda"``).

Transmitted parts (every byte the decoder reads; ``num_bits`` counts all of them):

* ``"header"``: format version + quality id (1 byte: high 3 bits version, low 5 bits quality),
  image height and width (unsigned LEB128 varints), and the byte lengths of the ``z`` and ``y``
  strings (varints) — about 8-10 bytes;
* ``"z"``: rANS string of the hyper-latent (entropy bottleneck, factorized prior);
* ``"y"``: rANS string of the latent (Gaussian conditional, scales from the hyper-decoder).

Images whose sides are not multiples of 64 are padded (edge replicate) before analysis and the
reconstruction is cropped back.

Determinism: everything that decides the entropy coder's symbols and probability tables runs
on the CPU in float32 in both encoder and decoder — the quantized CDF tables are computed by
``update()`` on the CPU from the checkpoint's rounded weights (files written before this scheme
store them; newer files record their digest, checked at load: :mod:`semlink.entropy.checkpoint`),
and ``z_hat -> h_s -> scale indexes`` is evaluated by a CPU copy of the hyper-decoder. Only the
analysis transforms (g_a, h_a: they choose the symbols, which are then transmitted) and the
synthesis transform g_s run on ``device``. A stream encoded with ``device="cuda"`` therefore
decodes on the CPU (on CPUs whose float32 convolutions agree; the hyper-decoder input is tiny).
The models and their latent coding: :mod:`semlink.nn.hyperprior`; the entropy coding:
:mod:`semlink.entropy`.

Decoding never raises. The rANS strings are decoded by a bounds-checked decoder (numba,
:func:`semlink.entropy.rans_decode`) that is bit-exact with CompressAI's C++ ``RansDecoder`` on
valid strings but reads zeros past the end of a truncated string instead of reading foreign
memory, stops on impossible escape codes, and checks the coder's final state: a valid string
ends with the state the encoder started from and every word consumed. A header that does not
match the received shape or names an unknown quality -> mid-grey concealment,
``decoded_ok=False``. What a damaged part gives is the option ``on_loss``:

* ``"conceal"`` (default): an image with any packet that failed its CRC is concealed (mid-grey,
  ``decoded_ok=False``, the lost parts named). A lost rANS word desynchronises every symbol
  after it, and a wrong ``z`` every scale: the damaged decode is often far below mid-grey, so a
  learned decoder must not be scored on it by default.
* ``"decode"``: the string is decoded anyway (the integrity check above still reports it), as a
  study of damaged decoding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from semlink.models import MODELS

from ._util import check_context, check_on_loss, grey, lost_parts_reason, one_rate, pack_fields, unpack_fields, validate_image
from .base import Codec, Encoded, Reconstruction
from .ratecontrol import highest_quality_within
from .received import Received
from .registry import register_codec

CODEC = "hyperprior"
VERSION = 1
MAX_QUALITY = 31  # quality ids fit 5 bits of the header's first byte
PARTS = ("header", "z", "y")


# --------------------------------------------------------------------------- header
def pack_header(h: int, w: int, quality: int, len_z: int, len_y: int) -> bytes:
    """Header bytes: version|quality, H, W, len(z), len(y)."""
    return pack_fields(VERSION, quality, (h, w, len_z, len_y), MAX_QUALITY)


def unpack_header(buf: bytes) -> tuple[int, int, int, int, int]:
    """-> (H, W, quality, len_z, len_y); StreamError (a ValueError) on a malformed header."""
    quality, (h, w, len_z, len_y) = unpack_fields(buf, VERSION, 4)
    return h, w, quality, len_z, len_y


# --------------------------------------------------------------------------- the codec
@register_codec(CODEC)
class HyperpriorCodec(Codec):
    """(Mean-)scale hyperprior with rANS bitstreams; rate points are the shipped (or given) checkpoints."""

    zoo_codecs = ("hyperprior",)
    kind = "image"
    rate_keys = ("bpp", "quality")

    def __init__(self, checkpoint: str | None = None, manifest: str | None = None, device: str = "cpu",
                 on_loss: str = "conceal") -> None:
        self.on_loss = check_on_loss(on_loss)
        if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
            raise ValueError(f"{CODEC}: device must be 'cpu' or 'cuda', got {device!r}")
        if checkpoint is not None and manifest is not None:
            raise ValueError(f"{CODEC}: give checkpoint= or manifest=, not both")
        self.device = str(device)
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.manifest = None if manifest is None else str(manifest)
        self._points: dict[int, dict] | None = None

    # --- rate points ---------------------------------------------------------------
    def _rate_table(self) -> dict[int, dict]:
        """quality -> how to load it: ``{"file": path}`` or ``{"name": manifest name}``, plus
        ``"level"`` (0-based) for a rate level of a variable-rate file."""
        if self._points is None:
            if self.checkpoint is not None:
                self._points = self._checkpoint_points()
            else:
                from semlink.zoo.checkpoints import read_manifest

                models, _ = read_manifest(self.manifest)
                pts: dict[int, dict] = {}
                for e in models:
                    if e.get("codec") != CODEC:
                        continue
                    if "qualities" in e:  # one variable-rate file: quality id q is level q - 1
                        lams = e.get("lambdas") or [None] * len(e["qualities"])
                        found = {int(q): {"name": e["name"], "level": int(q) - 1, "lambda": lams[int(q) - 1]}
                                 for q in e["qualities"]}
                    else:
                        found = {int(e["quality"]): {"name": e["name"], "lambda": e.get("lambda")}}
                    for q, where in found.items():
                        if q in pts:
                            raise ValueError(f"{CODEC}: quality {q} listed twice in the manifest")
                        pts[q] = where
                self._points = dict(sorted(pts.items()))
        return self._points

    def _checkpoint_points(self) -> dict[int, dict]:
        from semlink.zoo.checkpoints import read_checkpoint

        ckpt = read_checkpoint(self.checkpoint)
        from semlink.nn.hyperprior import GAINED

        lambdas = ckpt.get("config", {}).get("lambdas")
        if ckpt.get("arch") == GAINED and lambdas:
            if len(lambdas) > MAX_QUALITY:
                raise ValueError(f"{CODEC}: checkpoint {self.checkpoint} has {len(lambdas)} levels, at most {MAX_QUALITY}")
            return {lv + 1: {"file": self.checkpoint, "level": lv, "lambda": float(lam)} for lv, lam in enumerate(lambdas)}
        q = int(ckpt.get("meta", {}).get("quality", 1))
        if not 1 <= q <= MAX_QUALITY:
            raise ValueError(f"{CODEC}: checkpoint {self.checkpoint} has quality {q}, outside [1, {MAX_QUALITY}]")
        return {q: {"file": self.checkpoint, "lambda": ckpt.get("meta", {}).get("lambda")}}

    def qualities(self) -> list[int]:
        """Rate points (quality ids, low to high rate) available to this codec."""
        return list(self._rate_table())

    rate_points = qualities

    def lambdas(self) -> dict[int, float | None]:
        """quality id -> the training lambda of that rate point (CompressAI's scale: the loss is
        ``lambda * 255^2 * MSE + bpp`` with MSE on [0, 1] pixels); None where the file does not say."""
        return {q: (None if w.get("lambda") is None else float(w["lambda"])) for q, w in self._rate_table().items()}

    def part_names(self) -> tuple[str, ...]:
        return PARTS

    def model(self, quality: int):
        """The :class:`~semlink.nn.hyperprior.HyperpriorModel` of rate point ``quality`` (loaded
        once per process: :data:`semlink.models.MODELS`)."""
        where = self._rate_table()[quality]
        key = (CODEC, self.checkpoint, self.manifest, where.get("name", where.get("file")), self.device)
        loaded = MODELS.get(key, lambda: self._load_model(where))
        return loaded.at_level(where["level"]) if "level" in where else loaded

    def _load_model(self, where: dict):
        from semlink.nn.hyperprior import HyperpriorModel, model_from_checkpoint
        from semlink.zoo.checkpoints import load_checkpoint, read_checkpoint

        ckpt = read_checkpoint(where["file"]) if "file" in where else load_checkpoint(where["name"], self.manifest)
        return HyperpriorModel(model_from_checkpoint(ckpt), self.device)

    def _no_points_error(self) -> ValueError:
        return ValueError(
            f"{CODEC}: no rate point: the manifest ({self.manifest or 'semlink/zoo/manifest.json'}) lists no "
            f"hyperprior checkpoint. Train one with "
            f"`semlink train hyperprior --lambda 0.0067 --steps 200000 --out runs/q3` and use it with "
            f"get_codec('hyperprior', checkpoint='runs/q3/hyperprior.pt')"
        )

    # --- encode --------------------------------------------------------------------
    def encode(self, item: np.ndarray, *, bpp: float | None = None, quality: float | None = None, **extra: Any) -> Encoded:
        """Code an image at a shipped rate point.

        Args:
            item: uint8 [H, W, 3].
            bpp: target bits per pixel (all parts); the highest rate point whose rate does not
                exceed it (the lowest one, with ``info["target_met"] = False``, if none fits).
            quality: a rate point from :meth:`qualities`. Neither given: the highest.
            extra: runner context (``snr_db``, ``channel_state``); ignored.
        """
        check_context(extra)
        image = validate_image(item)
        key, value = one_rate({"bpp": bpp, "quality": quality}, ("bpp", "quality"))
        points = self.qualities()
        if not points:
            raise self._no_points_error()
        h, w, _ = image.shape
        if max(h, w) >= 1 << 16:
            raise ValueError(f"{CODEC}: image sides must be < 65536, got {h}x{w}")
        info: dict[str, Any] = {"tool": self.tool()}
        if key == "bpp":
            point, met = highest_quality_within(
                lambda i: self._sized(image, points[i]), 0, len(points) - 1, value * h * w
            )
            q, parts = points[int(point.param)], point.output
            info.update(target_bpp=value, target_met=met)
        else:
            q = points[-1] if value is None else value
            if q not in points:
                raise ValueError(f"{CODEC}: quality must be one of the rate points {points}, got {q!r}")
            q = int(q)
            parts = self._encode_parts(image, q)
        n_bits = 8 * sum(len(b) for b in parts.values())
        info.update(quality=q, bpp=n_bits / (h * w), device=self.device, arch=self.model(q).arch)
        return Encoded(codec=CODEC, kind="image", shape=image.shape, parts=parts, info=info)

    def _sized(self, image: np.ndarray, q: int) -> tuple[dict[str, bytes], int]:
        parts = self._encode_parts(image, q)
        return parts, 8 * sum(len(b) for b in parts.values())

    def _encode_parts(self, image: np.ndarray, q: int) -> dict[str, bytes]:
        import torch
        import torch.nn.functional as F

        from semlink.nn.hyperprior import PAD

        lm = self.model(q)
        h, w, _ = image.shape
        hp, wp = -(-h // PAD) * PAD, -(-w // PAD) * PAD
        with torch.inference_mode():
            x = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None].float().div_(255.0)
            if (hp, wp) != (h, w):
                x = F.pad(x, (0, wp - w, 0, hp - h), mode="replicate")
        z_str, y_str = lm.encode_latents(x)
        return {"header": pack_header(h, w, q, len(z_str), len(y_str)), "z": z_str, "y": y_str}

    # --- decode --------------------------------------------------------------------
    def decode(self, received: Received) -> Reconstruction:
        """Decode; never raises. Unusable header -> mid-grey, ``decoded_ok=False``, reason."""
        return self._decode(received, tuple(received.shape))  # the Codec base conceals any failure

    def _decode(self, received: Received, shape: tuple[int, ...]) -> Reconstruction:
        import torch

        from semlink.nn.hyperprior import PAD

        parts = received.parts
        try:
            h, w, q, len_z, len_y = unpack_header(parts.get("header", b""))
        except ValueError as exc:
            return Reconstruction(grey(shape), False, f"unreadable header: {exc}")
        if (h, w) != tuple(shape[:2]):
            return Reconstruction(grey(shape), False, f"header announces {w}x{h}, expected {shape[1]}x{shape[0]}; not decoded")
        if q not in self._rate_table():
            return Reconstruction(grey(shape), False, f"header names quality {q}, not one of {self.qualities()}; not decoded")
        if self.on_loss == "conceal" and not received.ok:
            return Reconstruction(grey(shape), False, lost_parts_reason(received.part_ok))
        lm = self.model(q)
        hp, wp = -(-h // PAD) * PAD, -(-w // PAD) * PAD
        z_str, y_str = bytes(parts.get("z", b"")), bytes(parts.get("y", b""))
        problems = []
        if len(z_str) != len_z:
            problems.append(f"z part has {len(z_str)} bytes, header says {len_z}")
        if len(y_str) != len_y:
            problems.append(f"y part has {len(y_str)} bytes, header says {len_y}")
        x_hat, more = lm.decode_latents(z_str, y_str, hp, wp)
        problems += more
        x_hat = torch.nan_to_num(x_hat, nan=0.5, posinf=1.0, neginf=0.0).clamp_(0, 1)
        img = (x_hat[0, :, :h, :w].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
        img = np.ascontiguousarray(img)
        if problems:
            return Reconstruction(img, False, "corrupted stream: " + "; ".join(problems))
        return Reconstruction(img, True, "")

    def tool(self) -> str:
        from semlink.entropy import compressai_version

        return f"CompressAI {compressai_version()} hyperprior + rANS"
