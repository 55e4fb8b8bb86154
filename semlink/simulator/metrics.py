"""Quality and rate metrics for images (uint8 [H, W, 3]) and clips (uint8 [T, H, W, 3]).

Quality:
- :func:`psnr`: RGB PSNR over all pixels and channels, peak 255, in dB. Identical inputs give
  ``math.inf`` (the exact value; no cap). Aggregate over items by averaging MSE or by using
  finite values only — averaging dB values containing ``inf`` gives ``inf``.
- :func:`psnr_per_frame`: one PSNR per frame of a clip.
- :func:`ms_ssim`: MS-SSIM (pytorch-msssim, data_range=255, 5 scales, Gaussian window).
  Small-image policy: the default 11-tap window needs the shorter side > (11-1)*2**4 = 160.
  For smaller inputs the window shrinks to the largest odd size that fits (down to 3, i.e.
  shorter side > 32); ``info`` of the returned value is not available, so callers needing a
  fixed definition pass ``win_size=11`` explicitly, which raises ValueError on small inputs.
  Below 33 px it always raises ValueError naming the size.
- :class:`PerceptualMetric` / :func:`perceptual_metric`: LPIPS (AlexNet, v0.1) when its
  backbone weights are already in the torch hub cache, else ST-LPIPS (shift-tolerant VGG,
  weights shipped in stlpips-pytorch), always named as what it is: ``"lpips"`` or
  ``"st_lpips"``. Never downloads anything.

Rate:
- :func:`bpp`: bits per pixel, bits / (H*W).
- :func:`cbr`: channel bandwidth ratio, complex channel symbols / (H*W*3) source symbols.
- :func:`bcr`: bit compression ratio (VQ-DeepVSC eqs. 19-20), bits / (C*H*W*8*N).
"""

from __future__ import annotations

import collections
import functools
import hashlib
import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

#: Peak value of 8-bit samples.
PEAK = 255.0


def _pair(ref: np.ndarray, rec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, rec = np.asarray(ref), np.asarray(rec)
    if ref.shape != rec.shape:
        raise ValueError(f"shapes differ: ref {ref.shape} vs rec {rec.shape}")
    if ref.shape[-1] != 3 or ref.ndim not in (3, 4):
        raise ValueError(f"expected [H, W, 3] or [T, H, W, 3], got {ref.shape}")
    return ref, rec


def mse(ref: np.ndarray, rec: np.ndarray) -> float:
    """Mean squared error over all samples (8-bit units squared)."""
    ref, rec = _pair(ref, rec)
    d = ref.astype(np.float64) - rec.astype(np.float64)
    return float(np.mean(d * d))


def psnr_from_mse(m: float) -> float:
    """PSNR in dB for an MSE in 8-bit units; ``inf`` for 0."""
    return math.inf if m == 0 else 10.0 * math.log10(PEAK * PEAK / m)


def psnr(ref: np.ndarray, rec: np.ndarray) -> float:
    """RGB PSNR in dB over all pixels and channels (peak 255); ``inf`` when identical.

    For a clip [T, H, W, 3] this is the PSNR of the clip-wide MSE; see :func:`psnr_per_frame`.
    """
    return psnr_from_mse(mse(ref, rec))


def psnr_per_frame(ref: np.ndarray, rec: np.ndarray) -> np.ndarray:
    """PSNR in dB of each frame of clips [T, H, W, 3] -> float64 [T]."""
    ref, rec = _pair(ref, rec)
    if ref.ndim != 4:
        raise ValueError(f"expected clips [T, H, W, 3], got {ref.shape}")
    d = ref.astype(np.float64) - rec.astype(np.float64)
    m = np.mean(d * d, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return np.where(m == 0, np.inf, 10.0 * np.log10(PEAK * PEAK / np.maximum(m, 1e-300)))


#: MS-SSIM scales in pytorch-msssim (5 weights).
_MS_SSIM_LEVELS = 5


def ms_ssim_win_size(h: int, w: int, win_size: int | None = None) -> int:
    """Window size used for an H x W input (see module docstring for the policy).

    Raises:
        ValueError: the input is too small (naming its size and the minimum).
    """
    side = min(h, w)
    factor = 2 ** (_MS_SSIM_LEVELS - 1)
    if win_size is not None:
        if side <= (win_size - 1) * factor:
            raise ValueError(f"MS-SSIM with win_size={win_size} needs the shorter side > {(win_size - 1) * factor} px, got {h}x{w}")
        return win_size
    for ws in range(11, 2, -2):
        if side > (ws - 1) * factor:
            return ws
    raise ValueError(f"MS-SSIM needs the shorter side > {2 * factor} px (window 3), got {h}x{w}")


def _to_tensor(x: np.ndarray):
    import torch

    x = np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    return torch.from_numpy(x.astype(np.float32)).permute(0, 3, 1, 2)


def ms_ssim(ref: np.ndarray, rec: np.ndarray, win_size: int | None = None) -> float:
    """MS-SSIM in [0, 1] (pytorch-msssim, data_range=255); for clips, the mean over frames.

    Args:
        win_size: Gaussian window size; None = 11, shrunk for small inputs (module docstring).
    """
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    ref, rec = _pair(ref, rec)
    ws = ms_ssim_win_size(ref.shape[-3], ref.shape[-2], win_size)
    with torch.no_grad():
        vals = _ms_ssim(_to_tensor(ref), _to_tensor(rec), data_range=PEAK, size_average=False, win_size=ws)
    return float(vals.mean())


def ms_ssim_per_frame(ref: np.ndarray, rec: np.ndarray, win_size: int | None = None) -> np.ndarray:
    """MS-SSIM of each frame of clips [T, H, W, 3] -> float64 [T]."""
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    ref, rec = _pair(ref, rec)
    ws = ms_ssim_win_size(ref.shape[-3], ref.shape[-2], win_size)
    with torch.no_grad():
        vals = _ms_ssim(_to_tensor(ref), _to_tensor(rec), data_range=PEAK, size_average=False, win_size=ws)
    return vals.double().numpy()


# --- perceptual ----------------------------------------------------------------------------

#: torchvision ImageNet AlexNet weights LPIPS needs (file name in the torch hub cache).
ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"


def lpips_available() -> bool:
    """True when LPIPS(alex) can be built offline: torchvision's AlexNet weights are in
    ``torch.hub.get_dir()/checkpoints`` and the lpips package (with its linear weights) is installed."""
    import torch

    if not (Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_WEIGHTS).is_file():
        return False
    try:
        import lpips  # noqa: F401
    except ImportError:
        return False
    return (Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth").is_file()


class PerceptualMetric:
    """A learned perceptual distance (lower = more similar), built once.

    Attributes:
        name: ``"lpips"`` (LPIPS v0.1, AlexNet) or ``"st_lpips"`` (ST-LPIPS, shift-tolerant VGG).
        precision: ``"fp32"`` or ``"bf16"`` (the feature network after its first convolution
            under bf16 autocast; distances formed in float32). ``"auto"`` picks bf16 where the
            device runs it natively (CPUs with avx512_bf16 / AMX, CUDA) — distances within 1e-3
            of fp32 on the bundled photos and clips (tested; measured worst 8.8e-4), about 1.5x
            faster on a 2-core avx512_bf16 CPU — else fp32.
        device: ``"cpu"`` or ``"cuda"`` (``"auto"``: CUDA when torch sees one).

    Call with uint8 [H, W, 3] or [T, H, W, 3] (mean over frames) -> float;
    :meth:`per_frame` gives one distance per frame. The reference's features are cached (by
    content hash, within ``cache_mb``), so scoring many reconstructions of one item computes
    its features once. Frames are processed one at a time: on a CPU, batching frames was
    measured slower (32 frames of 320x240, 2 threads, bf16: 2.09 s one by one, 2.68 s in
    batches of 8).
    """

    def __init__(self, name: Literal["lpips", "st_lpips"], precision: str = "auto", device: str = "auto",
                 cache_mb: float = 768.0) -> None:
        import torch

        if name == "lpips":
            if not lpips_available():
                raise ValueError(
                    f"lpips needs torchvision's AlexNet weights at {Path(torch.hub.get_dir()) / 'checkpoints' / ALEXNET_WEIGHTS}"
                    " (not downloaded at run time); use 'st_lpips'"
                )
            import lpips

            self.net = lpips.LPIPS(net="alex", version="0.1", verbose=False)
        elif name == "st_lpips":
            self.net = _build_st_lpips()
        else:
            raise ValueError(f"perceptual metric name must be 'lpips' or 'st_lpips', got {name!r}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if precision == "auto":
            precision = "bf16" if _native_bf16(device) else "fp32"
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
        self.device, self.precision = str(device), precision
        self.net.eval().to(self.device)
        self.name = name
        self._cache: "collections.OrderedDict[str, list]" = collections.OrderedDict()
        self._cache_bytes, self._cache_limit = 0, int(cache_mb * 2**20)

    # ------------------------------------------------------------------ features
    def _frame_features(self, frame: np.ndarray) -> list:
        """uint8 [H, W, 3] -> the network's feature maps (list of [1, C, h, w], autocast dtype)."""
        import torch

        x = (_to_tensor(frame) / 127.5 - 1.0).to(self.device)
        with torch.inference_mode():
            if getattr(self.net, "version", "0.1") == "0.1":
                x = self.net.scaling_layer(x)
            slices = [getattr(self.net.net, f"slice{i}", None) for i in range(1, self.net.L + 1)]
            if self.precision == "fp32" or any(s is None for s in slices):
                with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                    return list(self.net.net.forward(x))
            # The first convolution runs in float32: it sees the pixels, whose steps bf16 would
            # round away (all-bf16 deviates up to 1.4e-3 from fp32 on small crops); the rest in bf16.
            layers = list(slices[0].children()) if isinstance(slices[0], torch.nn.Sequential) else [slices[0]]
            x = layers[0](x)
            out = []
            with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16):
                for layer in layers[1:]:
                    x = layer(x)
                out.append(x)
                for block in slices[1:]:
                    x = block(x)
                    out.append(x)
            return out

    def _features(self, clip: np.ndarray, cache: bool) -> list[list]:
        """Per frame of uint8 [T, H, W, 3], its feature maps; cached by content hash when ``cache``."""
        key = hashlib.sha1(np.ascontiguousarray(clip)).hexdigest() + str(clip.shape)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        feats = [self._frame_features(f) for f in clip]
        if cache:
            size = sum(t.numel() * t.element_size() for fr in feats for t in fr)
            if size <= self._cache_limit:
                self._cache[key] = feats
                self._cache_bytes += size
                while self._cache_bytes > self._cache_limit:
                    _, old = self._cache.popitem(last=False)
                    self._cache_bytes -= sum(t.numel() * t.element_size() for fr in old for t in fr)
        return feats

    def _distance(self, fa: list, fb: list) -> float:
        """LPIPS distance of two frames' feature maps, in float32 (the packages' forward())."""
        import torch

        with torch.inference_mode():
            val = 0.0
            for k in range(self.net.L):
                a, b = _unit_normalize(fa[k].float()), _unit_normalize(fb[k].float())
                val = val + self.net.lins[k]((a - b) ** 2).mean(dim=(2, 3), keepdim=True)
            return float(val.reshape(-1)[0])

    # ------------------------------------------------------------------ distances
    def per_frame(self, ref: np.ndarray, rec: np.ndarray) -> np.ndarray:
        """float64 [T] distances of each frame (T = 1 for an image)."""
        ref, rec = _pair(ref, rec)
        if ref.ndim == 3:
            ref, rec = ref[None], rec[None]
        fa = self._features(ref, cache=True)
        fb = self._features(rec, cache=False)
        return np.array([self._distance(a, b) for a, b in zip(fa, fb)], dtype=np.float64)

    def __call__(self, ref: np.ndarray, rec: np.ndarray) -> float:
        return float(np.mean(self.per_frame(ref, rec)))


def _unit_normalize(x, eps: float = 1e-10):
    """Feature maps divided by their channel-wise L2 norm (lpips.normalize_tensor)."""
    import torch

    return x / (torch.sqrt(torch.sum(x**2, dim=1, keepdim=True)) + eps)


def _native_bf16(device: str) -> bool:
    """True where bf16 runs natively (:func:`semlink.precision.resolve_amp`): a CUDA device with
    bf16, or a CPU with avx512_bf16 / amx_bf16 (oneDNN emulates bf16 on other AVX-512 CPUs, where
    it was measured 1.8-3.2x slower than float32)."""
    from semlink.precision import resolve_amp

    return resolve_amp("auto", device).bf16


def _build_st_lpips():
    """ST-LPIPS (VGG, shift-tolerant) with the weights shipped in stlpips-pytorch.

    Loads the weights itself (the package loads with ``strict=False``, which would hide a
    missing file) and checks that every parameter was found.
    """
    import torch
    from stlpips_pytorch import stlpips

    net = stlpips.LPIPS(net="vgg", variant="shift_tolerant", pretrained=False, verbose=False)
    path = Path(stlpips.__file__).parent / "weights" / "vST0.0" / "vgg_shift_tolerant.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = net.load_state_dict(state, strict=False)
    # ``lins.k`` are aliases of ``link`` (same modules, stored once in the file).
    missing = [k for k in missing if not k.startswith("lins.")]
    if missing or unexpected:
        raise RuntimeError(f"ST-LPIPS weights mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return net


@functools.lru_cache(maxsize=None)
def _cached_metric(name: str, precision: str) -> PerceptualMetric:
    return PerceptualMetric(name, precision)  # type: ignore[arg-type]


def perceptual_metric(prefer: Literal["auto", "lpips", "st_lpips"] = "auto", precision: str = "auto") -> PerceptualMetric:
    """The perceptual metric, constructed once per process and cached.

    Args:
        prefer: "auto" (LPIPS if its weights are present offline, else ST-LPIPS), "lpips"
            (ValueError if unavailable) or "st_lpips".
        precision: "auto" (bf16 where native, else fp32), "fp32" or "bf16" (see :class:`PerceptualMetric`).
    """
    if prefer not in ("auto", "lpips", "st_lpips"):
        raise ValueError(f"prefer must be 'auto', 'lpips' or 'st_lpips', got {prefer!r}")
    if prefer == "auto":
        prefer = "lpips" if lpips_available() else "st_lpips"
    return _cached_metric(prefer, precision)


# --- rates ---------------------------------------------------------------------------------


def bpp(num_bits: float, height: int, width: int) -> float:
    """Bits per pixel: num_bits / (H*W)."""
    return num_bits / (height * width)


def cbr(num_channel_symbols: float, height: int, width: int, channels: int = 3) -> float:
    """Channel bandwidth ratio: complex channel symbols / (H*W*C) real source symbols."""
    return num_channel_symbols / (height * width * channels)


def bcr(num_bits: float, frames_shape: tuple[int, ...]) -> float:
    """Bit compression ratio (VQ-DeepVSC eqs. 19-20): bits / (C*H*W*8*N) for frames [N, H, W, C].

    An image [H, W, C] counts as N = 1.
    """
    shape = tuple(frames_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4:
        raise ValueError(f"frames_shape must be [N, H, W, C] or [H, W, C], got {frames_shape}")
    n, h, w, c = shape
    return num_bits / (c * h * w * 8 * n)


# ----------------------------------------------------------------------------- one row's metrics
def quality_metrics(ref: np.ndarray, rec: np.ndarray, which: tuple[str, ...], perceptual, memo=None) -> dict[str, Any]:
    """PSNR [dB], MS-SSIM and the perceptual distance (column named after the metric used).

    Args:
        memo: an optional ``get_fresh(key)`` / ``put(key, value)`` store (the sweep worker's
            :class:`~semlink.sweep.context.LRU`): results are memoised per (reference,
            reconstruction) content hash. Across an SNR sweep most reconstructions are
            bit-identical (error-free decodes above the cliff, concealments below), and the
            perceptual network is by far the slowest step of a row on a CPU.
    """
    if memo is None:
        return _compute_metrics(ref, rec, which, perceptual)
    key = (hashlib.sha1(np.ascontiguousarray(ref)).hexdigest(), hashlib.sha1(np.ascontiguousarray(rec)).hexdigest(),
           which, getattr(perceptual, "name", None), getattr(perceptual, "precision", None))
    found = memo.get_fresh(key)
    if found is not None:
        return dict(found)
    out = _compute_metrics(ref, rec, which, perceptual)
    memo.put(key, dict(out))
    return out


def _compute_metrics(ref: np.ndarray, rec: np.ndarray, which: tuple[str, ...], perceptual) -> dict[str, Any]:
    out: dict[str, Any] = {}
    video = ref.ndim == 4
    if "psnr" in which:
        out["psnr"] = float(np.mean(psnr_per_frame(ref, rec))) if video else psnr(ref, rec)
    if "ms_ssim" in which:
        out["ms_ssim"] = float(np.mean(ms_ssim_per_frame(ref, rec))) if video else ms_ssim(ref, rec)
    if "perceptual" in which and perceptual is not None:
        out[perceptual.name] = perceptual(ref, rec)
    return out
