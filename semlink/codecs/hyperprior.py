"""``hyperprior``: learned image codec — CompressAI's ScaleHyperprior (Ballé et al., ICLR 2018)
or MeanScaleHyperprior (Minnen et al., NeurIPS 2018, without the autoregressive context model),
with real rANS bitstreams. Each checkpoint names its architecture; the shipped zoo's is listed
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
on the CPU in float32 in both encoder and decoder — the quantized CDF tables are stored in the
checkpoint (computed once by ``update()`` on the CPU when it is exported), and ``z_hat ->
h_s -> scale indexes`` is evaluated by a CPU copy of the hyper-decoder. Only the analysis
transforms (g_a, h_a: they choose the symbols, which are then transmitted) and the synthesis
transform g_s run on ``device``. A stream encoded with ``device="cuda"`` therefore decodes on
the CPU (on CPUs whose float32 convolutions agree; the hyper-decoder input is tiny).

Decoding never raises. The rANS strings are decoded by a bounds-checked decoder (numba)
that is bit-exact with CompressAI's C++ ``RansDecoder`` on valid strings but reads zeros past
the end of a truncated string instead of reading foreign memory, stops on impossible escape
codes, and checks the coder's final state: a valid string ends with the state the encoder
started from and every word consumed. A header that does not match the received shape or
names an unknown quality -> mid-grey concealment, ``decoded_ok=False``. A string that fails
the integrity check still gives its (partly wrong) reconstruction, with ``decoded_ok=False``
and the reason, like the classical codecs' own concealment. The per-packet CRC flags of ``Received`` are
not used.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numba
import numpy as np

from semlink.models import MODELS

from ._util import check_context, grey, one_rate, read_varint, validate_image, write_varint
from .base import Codec, Encoded, Reconstruction
from .received import Received
from .ratecontrol import highest_quality_within
from .registry import register_codec

CODEC = "hyperprior"
ARCH = "ScaleHyperprior"
VERSION = 1
PAD = 64  # both architectures downsample by 2**6
MAX_QUALITY = 31  # quality ids fit 5 bits of the header's first byte
PARTS = ("header", "z", "y")

RANS_L = 1 << 31
PRECISION = 16
#: An escape-coded value of an int32 takes at most 8 nibbles; a larger count is corruption.
MAX_BYPASS_NIBBLES = 8


# --------------------------------------------------------------------------- header
def pack_header(h: int, w: int, quality: int, len_z: int, len_y: int) -> bytes:
    """Header bytes: version|quality, H, W, len(z), len(y)."""
    if not 1 <= quality <= MAX_QUALITY:
        raise ValueError(f"quality id must be in [1, {MAX_QUALITY}], got {quality}")
    return bytes([(VERSION << 5) | quality]) + b"".join(write_varint(v) for v in (h, w, len_z, len_y))


def unpack_header(buf: bytes) -> tuple[int, int, int, int, int]:
    """-> (H, W, quality, len_z, len_y); raises ValueError on a malformed header."""
    if not buf:
        raise ValueError("empty header")
    version, quality = buf[0] >> 5, buf[0] & 0x1F
    if version != VERSION:
        raise ValueError(f"unknown header version {version}")
    vals, pos = [], 1
    for _ in range(4):
        v, pos = read_varint(buf, pos)
        vals.append(v)
    if pos != len(buf):
        raise ValueError(f"header has {len(buf) - pos} trailing bytes")
    h, w, len_z, len_y = vals
    return h, w, quality, len_z, len_y


# --------------------------------------------------------------------------- rANS decoder
_rans_kernel = None


@numba.njit(inline="always", cache=True, nogil=True)
def _renorm(x, words, pos, over):  # pragma: no cover - compiled
    """rANS renormalisation: below RANS_L, shift in the next 32-bit word (zeros past the end of
    the string, counted in ``over``). Returns (x, pos, over)."""
    if x < np.uint64(RANS_L):
        if pos < words.shape[0]:
            x = (x << np.uint64(32)) | np.uint64(words[pos])
        else:
            x = x << np.uint64(32)
            over += 1
        pos += 1
    return x, pos, over


def _get_rans_kernel():
    """numba-compiled bounds-checked rANS decoder (compiled once per process, cached on disk)."""
    global _rans_kernel
    if _rans_kernel is not None:
        return _rans_kernel
    import numba

    @numba.njit(cache=True, nogil=True)
    def kernel(words, indexes, cdfs, cdf_sizes, offsets, out):  # pragma: no cover - compiled
        n = words.shape[0]
        lo = np.uint64(RANS_L)
        mask = np.uint64((1 << PRECISION) - 1)
        sh = np.uint64(PRECISION)
        s32 = np.uint64(32)
        pos = 0
        over = 0
        w0 = np.uint64(words[0]) if n > 0 else np.uint64(0)
        w1 = np.uint64(words[1]) if n > 1 else np.uint64(0)
        if n < 2:
            over += 2 - n
        x = w0 | (w1 << s32)
        pos = 2
        status = 0  # 0 ok, 1 bad escape count
        done = 0
        for i in range(indexes.shape[0]):
            ci = indexes[i]
            size = cdf_sizes[ci]
            max_value = size - 2
            cum = x & mask
            j = 0
            while j < size and np.uint64(cdfs[ci, j]) <= cum:
                j += 1
            s = j - 1
            start = np.uint64(cdfs[ci, s])
            freq = np.uint64(cdfs[ci, s + 1]) - start
            x = freq * (x >> sh) + (x & mask) - start
            x, pos, over = _renorm(x, words, pos, over)
            value = np.int64(s)
            if s == max_value:
                # escape (bypass) mode: 4-bit nibbles
                val = np.int64(x & np.uint64(15))
                x = x >> np.uint64(4)
                x, pos, over = _renorm(x, words, pos, over)
                nb = val
                if nb > MAX_BYPASS_NIBBLES:
                    status = 1
                    done = i
                    break
                raw = np.int64(0)
                for k in range(nb):
                    v = np.int64(x & np.uint64(15))
                    x = x >> np.uint64(4)
                    x, pos, over = _renorm(x, words, pos, over)
                    raw |= v << (4 * k)
                if raw >= (np.int64(1) << 31):  # C++ keeps raw in an int32
                    raw -= np.int64(1) << 32
                value = raw >> 1
                if raw & 1:
                    value = -value - 1
                else:
                    value += max_value
            out[i] = value + offsets[ci]
            done = i + 1
        return status, done, pos, over, x == lo

    _rans_kernel = kernel
    return kernel


def rans_decode(data: bytes, indexes: np.ndarray, cdfs: np.ndarray, cdf_sizes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, str]:
    """Decode an rANS string of CompressAI's ``RansEncoder``; never reads past ``data``.

    Returns:
        (symbols int64 [len(indexes)], problem): ``problem`` is "" when the string passed the
        integrity check (final state and length), else what was wrong; symbols of a damaged
        string are whatever the decoder produced (zeros after a fatal escape code).
    """
    pad = (-len(data)) % 4
    words = np.frombuffer(bytes(data) + b"\0" * pad, dtype="<u4")
    out = np.zeros(len(indexes), dtype=np.int64)
    status, done, pos, over, final_ok = _get_rans_kernel()(
        words, np.ascontiguousarray(indexes, dtype=np.int32), cdfs, cdf_sizes, offsets, out
    )
    if status == 1:
        return out, f"impossible escape code at symbol {done} of {len(indexes)}"
    problems = []
    if pad:
        problems.append(f"length {len(data)} is not a multiple of 4")
    if over:
        problems.append(f"ran {4 * over} bytes past the end")
    elif pos != len(words):
        problems.append(f"{4 * (len(words) - pos)} bytes left unread")
    if not final_ok:
        problems.append("final coder state mismatch")
    return out, "; ".join(problems)


# --------------------------------------------------------------------------- model helpers
#: Architectures a checkpoint may name. ``MeanScaleHyperprior`` (Minnen et al. 2018 without the
#: context model) predicts a mean as well as a scale for each latent from the hyper-latent;
#: ``GainedMeanScaleHyperprior`` (:mod:`semlink.nn.gained_hyperprior`) is that with gain units:
#: one file holds every rate level (quality ids 1..L). The bitstream layout is the same.
ARCHS = ("ScaleHyperprior", "MeanScaleHyperprior", "GainedMeanScaleHyperprior")
GAINED = "GainedMeanScaleHyperprior"
#: entropy-coder tables: recomputed at load (``update()``), not stored in new checkpoints
TABLE_BUFFERS = ("_quantized_cdf", "_cdf_length", "_offset")


def import_compressai():
    """Import CompressAI quietly (its import pulls torch_geometric, which warns about jit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import compressai  # noqa: F401
        from compressai.models import ScaleHyperprior
    return ScaleHyperprior


def build_model(n: int, m: int, arch: str = ARCH, lambdas=None):
    """A fresh model ``arch(N=n, M=m)`` (float32, CPU); ``arch`` is one of :data:`ARCHS`;
    ``lambdas`` (the rate levels) only for :data:`GAINED`."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    if arch == GAINED:
        from semlink.nn.gained_hyperprior import DEFAULT_LAMBDAS, gained_mean_scale_hyperprior

        return gained_mean_scale_hyperprior(n, m, DEFAULT_LAMBDAS if lambdas is None else lambdas)
    import_compressai()
    import compressai.models as cm

    return getattr(cm, arch)(int(n), int(m))


def arch_of(model) -> str:
    """Architecture name (one of :data:`ARCHS`) of a model instance."""
    name = type(model).__name__
    if name not in ARCHS:
        raise ValueError(f"unsupported model class {name}; expected one of {', '.join(ARCHS)}")
    return name


def model_config(model) -> dict:
    """The ``config`` of a checkpoint of ``model``: N, M (and the lambdas of the gained model)."""
    cfg = {"N": int(model.N), "M": int(model.M)}
    if arch_of(model) == GAINED:
        cfg["lambdas"] = [float(v) for v in model.lambdas]
    return cfg


def _entropy_tables(module) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cdf = module._quantized_cdf.detach().cpu().numpy().astype(np.int32)
    sizes = module._cdf_length.detach().cpu().numpy().astype(np.int32).reshape(-1)
    offsets = module._offset.detach().cpu().numpy().astype(np.int64).reshape(-1)
    return np.ascontiguousarray(cdf), np.ascontiguousarray(sizes), np.ascontiguousarray(offsets)


def tables_digest(model) -> str:
    """sha256 (16 hex digits) of the model's entropy-coder tables (after ``update()``)."""
    import hashlib

    h = hashlib.sha256()
    for mod in (model.entropy_bottleneck, model.gaussian_conditional):
        for arr in _entropy_tables(mod):
            h.update(arr.tobytes())
    return h.hexdigest()[:16]


def export_checkpoint(model, path: str | Path, *, quality: int = 1, meta: dict | None = None, half: bool = True,
                      tables: bool = False) -> str:
    """Write a codec checkpoint of ``model``: float16 weights (+ the entropy-coder tables only
    with ``tables=True``). Returns the file's sha256.

    The weights are first rounded to what the file will hold, then the entropy models' quantized
    CDF tables are computed by ``update()`` on the CPU in float32 — exactly what the loader
    recomputes from the same weights; the file records their digest (``meta.tables_sha256``)
    and :func:`model_from_checkpoint` checks it, so an encoder and a decoder on machines that
    computed other tables are told instead of silently mis-decoding.
    """
    from semlink.zoo.checkpoints import KEEP_FP32, save_checkpoint
    import torch

    cpu = copy.deepcopy(model).to("cpu").float().eval()
    if half:
        with torch.no_grad():
            for name, t in list(cpu.named_parameters()) + list(cpu.named_buffers()):
                if t.is_floating_point() and not name.endswith(KEEP_FP32):
                    t.copy_(t.half().float())
    with torch.no_grad():
        cpu.update(force=True)
    info = {"quality": int(quality), **(meta or {}), "tables_sha256": tables_digest(cpu)}
    sd = cpu.state_dict()
    if not tables:
        sd = {k: v for k, v in sd.items() if not k.endswith(TABLE_BUFFERS)}
    return save_checkpoint(path, sd, arch=arch_of(cpu), config=model_config(cpu), meta=info, half=half)


def model_from_checkpoint(ckpt: dict):
    """Model of the checkpoint's ``arch`` (CPU, eval) from a :mod:`semlink.zoo.checkpoints` dict;
    entropy-coder tables that the file does not hold are computed (and checked against the
    digest the file records)."""
    import torch
    from semlink.zoo.checkpoints import CheckpointError

    arch = ckpt.get("arch")
    if arch not in ARCHS:
        raise CheckpointError(f"{ckpt.get('path')}: architecture {arch!r}, expected one of {', '.join(ARCHS)}")
    cfg = ckpt.get("config", {})
    model = build_model(cfg["N"], cfg["M"], arch, cfg.get("lambdas"))
    return load_weights(model, ckpt).eval()


def load_weights(model, ckpt: dict):
    """Load a checkpoint dict's weights into a CompressAI model of the right shape; entropy-coder
    tables that the file does not hold are computed by ``update()`` and checked against the digest
    the file records (``meta.tables_sha256``). Returns ``model``. CheckpointError if they do not fit."""
    import torch
    from semlink.zoo.checkpoints import CheckpointError

    sd = dict(ckpt["state_dict"])
    cfg = ckpt.get("config", {})
    has_tables = any(k.endswith("_quantized_cdf") for k in sd)
    try:
        if has_tables:
            model.load_state_dict(sd)
        else:
            # torch's own loader (CompressAI's override needs the tables in the state dict); the
            # buffers that update() sizes (e.g. the scale table) take the stored shapes first
            bufs = dict(model.named_buffers())
            for k, v in sd.items():
                if k in bufs and bufs[k].shape != v.shape:
                    owner, _, attr = k.rpartition(".")
                    model.get_submodule(owner).register_buffer(attr, torch.empty_like(v))
            missing, unexpected = torch.nn.Module.load_state_dict(model, sd, strict=False)
            missing = [k for k in missing if not k.endswith(TABLE_BUFFERS)]
            if missing or unexpected:
                raise RuntimeError(f"missing {missing[:4]}, unexpected {unexpected[:4]}")
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{ckpt.get('path')}: weights do not fit {type(model).__name__}"
                              f"(N={cfg.get('N')}, M={cfg.get('M')}): {exc}") from None
    if not has_tables or model.entropy_bottleneck._quantized_cdf.numel() == 0:
        with torch.no_grad():
            model.update(force=True)
        want = ckpt.get("meta", {}).get("tables_sha256")
        if want and tables_digest(model) != want:
            raise CheckpointError(
                f"{ckpt.get('path')}: the entropy-coder tables computed on this machine (digest {tables_digest(model)}) "
                f"differ from the exporter's ({want}); streams would not decode across the two machines"
            )
    return model


def levels_of(model) -> int:
    """Rate levels one model holds (1 for the single-rate architectures)."""
    return int(getattr(model, "levels", 1))


class _Loaded:
    """One model (CPU copy for the hyper path and tables + a copy on the compute device) at one
    rate level (``level``: 0-based, only for the gained architecture)."""

    def __init__(self, model, device: str, level: int = 0):
        import torch

        self.cpu = model
        self.dev = model if device == "cpu" else copy.deepcopy(model).to(device)
        self.device = device
        self.level = int(level)
        self.eb_tables = _entropy_tables(model.entropy_bottleneck)
        self.gc_tables = _entropy_tables(model.gaussian_conditional)
        self.medians = model.entropy_bottleneck._get_medians().detach().to(torch.float32).reshape(1, -1, 1, 1)
        self.n_z = model.entropy_bottleneck._quantized_cdf.shape[0]
        self.m = model.M
        self.arch = arch_of(model)

    def at_level(self, level: int) -> "_Loaded":
        """The same model at another rate level (shares the networks and tables)."""
        other = copy.copy(self)
        other.level = int(level)
        return other

    def analysis(self, x):
        """(y, z) float32 on the CPU of x on the compute device: as in training (CompressAI's
        ScaleHyperprior feeds |y| to h_a, MeanScaleHyperprior y itself)."""
        import torch

        if self.arch == GAINED:
            y, z = self.dev.analysis(x, self.level)
        else:
            y = self.dev.g_a(x)
            z = self.dev.h_a(torch.abs(y) if self.arch == "ScaleHyperprior" else y)
        return y.float().cpu(), z.float().cpu()

    def gaussian_params(self, z_hat):
        """(scales, means) of the latent's Gaussian conditional from ``z_hat`` (CPU, float32);
        means are 0 for ScaleHyperprior."""
        if self.arch == GAINED:
            return self.cpu.hyper_synthesis(z_hat, self.level)
        params = self.cpu.h_s(z_hat)
        if self.arch == "MeanScaleHyperprior":
            scales, means = params.chunk(2, 1)
            return scales, means
        return params, 0.0

    def synthesis(self, y_hat):
        """Raw synthesis output (float32, CPU) of the dequantised latent (CPU)."""
        y_hat = y_hat.to(self.device)
        out = self.dev.synthesis(y_hat, self.level) if self.arch == GAINED else self.dev.g_s(y_hat)
        return out.float().cpu()


def latent_encode(lm: _Loaded, x) -> tuple[bytes, bytes]:
    """rANS strings (z, y) of float [1, 3, H, W] (H, W multiples of :data:`PAD`, CPU) under the
    rate point ``lm``. The analysis runs on ``lm.device``; everything that decides symbols and
    tables runs on the CPU in float32, as in :func:`latent_decode`."""
    import torch

    import_compressai()  # quiet first import
    from compressai import ans

    with torch.inference_mode():
        y, z = lm.analysis(x.to(lm.device))
        z_sym = torch.round(z - lm.medians).to(torch.int32)
        z_hat = z_sym.float() + lm.medians
        scales, means = lm.gaussian_params(z_hat)
        idx = lm.cpu.gaussian_conditional.build_indexes(scales)
        y_sym = torch.round(y - means).to(torch.int32)
    enc = ans.RansEncoder()
    eb_cdf, eb_sizes, eb_off = lm.eb_tables
    gc_cdf, gc_sizes, gc_off = lm.gc_tables
    z_idx = np.broadcast_to(np.arange(lm.n_z, dtype=np.int32)[:, None, None], z_sym.shape[1:]).reshape(-1)
    z_str = enc.encode_with_indexes(
        z_sym.reshape(-1).tolist(), z_idx.tolist(), eb_cdf.tolist(), eb_sizes.tolist(), eb_off.tolist()
    )
    y_str = enc.encode_with_indexes(
        y_sym.reshape(-1).tolist(), idx.reshape(-1).tolist(), gc_cdf.tolist(), gc_sizes.tolist(), gc_off.tolist()
    )
    return bytes(z_str), bytes(y_str)


def latent_decode(lm: _Loaded, z_str: bytes, y_str: bytes, hp: int, wp: int):
    """(float [1, 3, hp, wp] synthesis output on the CPU, raw: neither clipped nor NaN-cleaned; problems)
    from the strings of :func:`latent_encode`. Never reads past the strings; damaged strings
    give a (partly wrong) output and a non-empty problem list."""
    import torch

    zs = (lm.n_z, hp // PAD, wp // PAD)
    ys = (lm.m, hp // 16, wp // 16)
    problems = []
    z_idx = np.broadcast_to(np.arange(lm.n_z, dtype=np.int32)[:, None, None], zs).reshape(-1)
    z_sym, pz = rans_decode(z_str, z_idx, *lm.eb_tables)
    if pz:
        problems.append(f"z string: {pz}")
    with torch.inference_mode():
        z_sym_t = torch.from_numpy(np.clip(z_sym, -(1 << 24), 1 << 24).astype(np.float32)).reshape(1, *zs)
        z_hat = z_sym_t + lm.medians
        scales, means = lm.gaussian_params(z_hat)
        idx = lm.cpu.gaussian_conditional.build_indexes(scales).reshape(-1).numpy()
    y_sym, py = rans_decode(y_str, idx, *lm.gc_tables)
    if py:
        problems.append(f"y string: {py}")
    with torch.inference_mode():
        y_hat = torch.from_numpy(np.clip(y_sym, -(1 << 24), 1 << 24).astype(np.float32)).reshape(1, *ys) + means
        x_hat = lm.synthesis(y_hat)
    return x_hat, problems


# --------------------------------------------------------------------------- the codec
@register_codec(CODEC)
class HyperpriorCodec(Codec):
    """(Mean-)scale hyperprior with rANS bitstreams; rate points are the shipped (or given) checkpoints."""

    kind = "image"
    rate_keys = ("bpp", "quality")

    def __init__(self, checkpoint: str | None = None, manifest: str | None = None, device: str = "cpu") -> None:
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
                        found = {int(q): {"name": e["name"], "level": int(q) - 1} for q in e["qualities"]}
                    else:
                        found = {int(e["quality"]): {"name": e["name"]}}
                    for q, where in found.items():
                        if q in pts:
                            raise ValueError(f"{CODEC}: quality {q} listed twice in the manifest")
                        pts[q] = where
                self._points = dict(sorted(pts.items()))
        return self._points

    def _checkpoint_points(self) -> dict[int, dict]:
        from semlink.zoo.checkpoints import read_checkpoint

        ckpt = read_checkpoint(self.checkpoint)
        lambdas = ckpt.get("config", {}).get("lambdas")
        if ckpt.get("arch") == GAINED and lambdas:
            if len(lambdas) > MAX_QUALITY:
                raise ValueError(f"{CODEC}: checkpoint {self.checkpoint} has {len(lambdas)} levels, at most {MAX_QUALITY}")
            return {lv + 1: {"file": self.checkpoint, "level": lv} for lv in range(len(lambdas))}
        q = int(ckpt.get("meta", {}).get("quality", 1))
        if not 1 <= q <= MAX_QUALITY:
            raise ValueError(f"{CODEC}: checkpoint {self.checkpoint} has quality {q}, outside [1, {MAX_QUALITY}]")
        return {q: {"file": self.checkpoint}}

    def qualities(self) -> list[int]:
        """Rate points (quality ids, low to high rate) available to this codec."""
        return list(self._rate_table())

    def rate_points(self) -> list[Any]:
        return self.qualities()

    def part_names(self) -> tuple[str, ...]:
        return PARTS

    def _load(self, quality: int) -> _Loaded:
        """The loaded model of rate point ``quality`` (once per process: :data:`semlink.models.MODELS`)."""
        where = self._rate_table()[quality]
        key = (CODEC, self.checkpoint, self.manifest, where.get("name", where.get("file")), self.device)
        loaded = MODELS.get(key, lambda: self._load_model(where))
        return loaded.at_level(where["level"]) if "level" in where else loaded

    def _load_model(self, where: dict) -> _Loaded:
        from semlink.zoo.checkpoints import load_checkpoint, read_checkpoint

        ckpt = read_checkpoint(where["file"]) if "file" in where else load_checkpoint(where["name"], self.manifest)
        return _Loaded(model_from_checkpoint(ckpt), self.device)

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
        info.update(quality=q, bpp=n_bits / (h * w), device=self.device, arch=self._load(q).arch)
        return Encoded(codec=CODEC, kind="image", shape=image.shape, parts=parts, info=info)

    def _sized(self, image: np.ndarray, q: int) -> tuple[dict[str, bytes], int]:
        parts = self._encode_parts(image, q)
        return parts, 8 * sum(len(b) for b in parts.values())

    def _encode_parts(self, image: np.ndarray, q: int) -> dict[str, bytes]:
        import torch
        import torch.nn.functional as F

        lm = self._load(q)
        h, w, _ = image.shape
        hp, wp = -(-h // PAD) * PAD, -(-w // PAD) * PAD
        with torch.inference_mode():
            x = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None].float().div_(255.0)
            if (hp, wp) != (h, w):
                x = F.pad(x, (0, wp - w, 0, hp - h), mode="replicate")
        z_str, y_str = latent_encode(lm, x)
        return {"header": pack_header(h, w, q, len(z_str), len(y_str)), "z": z_str, "y": y_str}

    # --- decode --------------------------------------------------------------------
    def decode(self, received: Received) -> Reconstruction:
        """Decode; never raises. Unusable header -> mid-grey, ``decoded_ok=False``, reason."""
        shape = tuple(received.shape)
        try:
            return self._decode(received, shape)
        except Exception as exc:  # noqa: BLE001 - any failure is a failed decode
            return Reconstruction(grey(shape), False, f"decode failed: {type(exc).__name__}: {exc}")

    def _decode(self, received: Received, shape: tuple[int, ...]) -> Reconstruction:
        import torch

        parts = received.parts
        try:
            h, w, q, len_z, len_y = unpack_header(parts.get("header", b""))
        except ValueError as exc:
            return Reconstruction(grey(shape), False, f"unreadable header: {exc}")
        if (h, w) != tuple(shape[:2]):
            return Reconstruction(grey(shape), False, f"header announces {w}x{h}, expected {shape[1]}x{shape[0]}; not decoded")
        if q not in self._rate_table():
            return Reconstruction(grey(shape), False, f"header names quality {q}, not one of {self.qualities()}; not decoded")
        lm = self._load(q)
        hp, wp = -(-h // PAD) * PAD, -(-w // PAD) * PAD
        z_str, y_str = bytes(parts.get("z", b"")), bytes(parts.get("y", b""))
        problems = []
        if len(z_str) != len_z:
            problems.append(f"z part has {len(z_str)} bytes, header says {len_z}")
        if len(y_str) != len_y:
            problems.append(f"y part has {len(y_str)} bytes, header says {len_y}")
        x_hat, more = latent_decode(lm, z_str, y_str, hp, wp)
        problems += more
        x_hat = torch.nan_to_num(x_hat, nan=0.5, posinf=1.0, neginf=0.0).clamp_(0, 1)
        img = (x_hat[0, :, :h, :w].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
        img = np.ascontiguousarray(img)
        if problems:
            return Reconstruction(img, False, "corrupted stream: " + "; ".join(problems))
        return Reconstruction(img, True, "")

    def tool(self) -> str:
        try:
            from importlib.metadata import version

            return f"CompressAI {version('compressai')} hyperprior + rANS"
        except Exception:  # noqa: BLE001
            return "CompressAI hyperprior + rANS"
