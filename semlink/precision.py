"""Which floating-point precision pays on this machine: bf16 only where the hardware has it.

oneDNN accepts bf16 on any AVX-512 CPU (``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` is
True there) but *emulates* it without the ``avx512_bf16`` / ``amx_bf16`` instructions, where it
was measured 1.8-3.2x slower than float32. So the choice is made from what the CPU really has:

1. CUDA: bf16 where ``torch.cuda.is_bf16_supported()`` (Ampere and newer).
2. CPU, x86-64 Linux: the flags of ``/proc/cpuinfo`` — ``avx512_bf16`` or ``amx_bf16`` -> bf16,
   else float32.
3. CPU elsewhere (flags unreadable, other architectures): a one-time micro-benchmark (a conv
   layer forward + backward in float32 and under bf16 autocast), bf16 only if it is at least
   10 % faster; the verdict is cached in the user cache (:mod:`semlink.cache`), keyed by the
   CPU model and the torch version.

:func:`resolve_amp` turns a setting (``"auto"``, ``"bf16"``, ``"none"``) into the precision to
use and a one-line reason that callers print. Nothing here changes global state.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

AMP_CHOICES = ("auto", "bf16", "none")
BENCH_MARGIN = 0.9  # bf16 must take at most this fraction of float32's time


@dataclass(frozen=True)
class Precision:
    """A resolved precision: ``amp`` is ``"bf16"`` or ``"none"`` (float32); ``reason`` says why."""

    amp: str
    reason: str

    @property
    def bf16(self) -> bool:
        return self.amp == "bf16"


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str] | None:
    """The CPU feature flags (x86 ``flags`` / ARM ``Features`` lines), or None where unreadable."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return None


def cpu_model(path: str = "/proc/cpuinfo") -> str:
    """The CPU model name (``platform.processor()`` where /proc/cpuinfo is unreadable)."""
    try:
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def native_bf16_cpu(flags: set[str] | None = None) -> bool | None:
    """True / False from the CPU flags (x86: ``avx512_bf16`` or ``amx_bf16``); None if unknown."""
    flags = cpu_flags() if flags is None else flags
    if flags is None or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def _bench_bf16_cpu(repeats: int = 5) -> tuple[float, float]:
    """Seconds per forward+backward of a 3x3 conv layer (batch 4, 64 ch, 64x64) in float32 and bf16."""
    import torch

    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.randn(4, 64, 64, 64, requires_grad=True)

    def one(bf16: bool) -> float:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                y = conv(x)
            y.float().sum().backward()
            best = min(best, time.perf_counter() - t0)
        return best

    one(False), one(True)  # warm-up
    return one(False), one(True)


def benchmark_bf16_cpu(use_cache: bool = True) -> tuple[bool, str]:
    """(bf16 faster?, reason) by the micro-benchmark, cached per CPU model and torch version."""
    import torch

    from semlink.cache import cache_dir, cache_key

    facts = {"cpu": cpu_model(), "machine": platform.machine(), "torch": torch.__version__}
    path = cache_dir() / "precision" / f"{cache_key(facts)}.json"
    if use_cache and path.is_file():
        try:
            saved = json.loads(path.read_text())
            return bool(saved["bf16"]), f"cached micro-benchmark: bf16 {saved['bf16_s']*1e3:.1f} ms vs fp32 {saved['fp32_s']*1e3:.1f} ms"
        except (OSError, ValueError, KeyError):
            pass
    fp32, bf16 = _bench_bf16_cpu()
    verdict = bf16 <= BENCH_MARGIN * fp32
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**facts, "bf16": verdict, "fp32_s": fp32, "bf16_s": bf16}))
        tmp.replace(path)
    except OSError:
        pass
    return verdict, f"micro-benchmark: bf16 {bf16*1e3:.1f} ms vs fp32 {fp32*1e3:.1f} ms"


def resolve_amp(amp: str, device: str = "cpu") -> Precision:
    """The precision for ``amp`` (``"auto"``, ``"bf16"``, ``"none"``) on ``device`` (``"cpu"``,
    ``"cuda"``, ``"cuda:N"``). ``"bf16"`` and ``"none"`` are honoured as given."""
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {', '.join(AMP_CHOICES)}, got {amp!r}")
    if amp != "auto":
        return Precision(amp, "asked for")
    if str(device).startswith("cuda"):
        import torch

        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return Precision("bf16" if ok else "none", "CUDA device " + ("supports bf16" if ok else "without bf16"))
    native = native_bf16_cpu()
    if native is True:
        return Precision("bf16", "CPU has native bf16 (avx512_bf16/amx_bf16)")
    if native is False:
        return Precision("none", "CPU has no native bf16 (no avx512_bf16/amx_bf16): bf16 would be emulated")
    fast, why = benchmark_bf16_cpu()
    return Precision("bf16" if fast else "none", why)
