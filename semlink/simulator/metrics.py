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

    Call with uint8 [H, W, 3] or [T, H, W, 3] (mean over frames) -> float.
    """

    def __init__(self, name: Literal["lpips", "st_lpips"]) -> None:
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
        self.net.eval()
        self.name = name

    def __call__(self, ref: np.ndarray, rec: np.ndarray) -> float:
        import torch

        ref, rec = _pair(ref, rec)
        a = _to_tensor(ref) / 127.5 - 1.0
        b = _to_tensor(rec) / 127.5 - 1.0
        with torch.no_grad():
            vals = [float(self.net(a[i : i + 1], b[i : i + 1]).mean()) for i in range(a.shape[0])]
        return float(np.mean(vals))


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
def _cached_metric(name: str) -> PerceptualMetric:
    return PerceptualMetric(name)  # type: ignore[arg-type]


def perceptual_metric(prefer: Literal["auto", "lpips", "st_lpips"] = "auto") -> PerceptualMetric:
    """The perceptual metric, constructed once per process and cached.

    Args:
        prefer: "auto" (LPIPS if its weights are present offline, else ST-LPIPS), "lpips"
            (ValueError if unavailable) or "st_lpips".
    """
    if prefer not in ("auto", "lpips", "st_lpips"):
        raise ValueError(f"prefer must be 'auto', 'lpips' or 'st_lpips', got {prefer!r}")
    if prefer == "auto":
        prefer = "lpips" if lpips_available() else "st_lpips"
    return _cached_metric(prefer)


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
_METRIC_CACHE: "dict[tuple, dict]" = {}
_METRIC_CACHE_SIZE = 256


def quality_metrics(ref: np.ndarray, rec: np.ndarray, which: tuple[str, ...], perceptual) -> dict[str, Any]:
    """PSNR [dB], MS-SSIM and the perceptual distance (column named after the metric used).

    Results are memoised per (reference, reconstruction) content hash: across an SNR sweep most
    reconstructions are bit-identical (error-free decodes above the cliff, concealments below),
    and the perceptual network is by far the slowest step of a row on a CPU.
    """
    key = (hashlib.sha1(np.ascontiguousarray(ref)).hexdigest(), hashlib.sha1(np.ascontiguousarray(rec)).hexdigest(),
           which, getattr(perceptual, "name", None))
    if key in _METRIC_CACHE:
        return dict(_METRIC_CACHE[key])
    out = _compute_metrics(ref, rec, which, perceptual)
    if len(_METRIC_CACHE) >= _METRIC_CACHE_SIZE:
        _METRIC_CACHE.pop(next(iter(_METRIC_CACHE)))
    _METRIC_CACHE[key] = dict(out)
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
