"""The hyperprior models of the ``hyperprior`` codec (and of gan-c2f's enhancement layer): building,
checkpoints, and the latent coding of one loaded model at one rate level.

Architectures (:data:`ARCHS`): CompressAI's ``ScaleHyperprior`` (Ballé et al., ICLR 2018),
``MeanScaleHyperprior`` (Minnen et al., NeurIPS 2018, without the context model: a mean as
well as a scale per latent element from the hyper-latent) and
``GainedMeanScaleHyperprior`` (:mod:`semlink.nn.gained_hyperprior`: that with gain units, one
file for every rate level). The bitstream layout is the same for all three.

Shapes: x float32 [1, 3, H, W] in [0, 1] with H, W multiples of :data:`PAD`; latent y
[1, M, H/16, W/16]; hyper-latent z [1, N, H/64, W/64].

Determinism: everything that decides the entropy coder's symbols and tables runs on the CPU in
float32 in encoder and decoder alike (the tables are computed on the CPU from the rounded
weights, ``z_hat -> h_s -> scales`` by a CPU copy of the model); only the analysis (g_a, h_a:
they choose the symbols, which are then transmitted) and the synthesis g_s run on the compute
device.
"""

from __future__ import annotations

import copy
import os

from semlink.entropy import (WIDE_SYMBOL_CLIP, FactorizedCoder, GaussianCoder, decode_hyper, encode_hyper,
                             export_model, load_with_tables, model_cls)

#: the default architecture of :func:`build_model`
ARCH = "ScaleHyperprior"
#: Architectures a checkpoint may name.
ARCHS = ("ScaleHyperprior", "MeanScaleHyperprior", "GainedMeanScaleHyperprior")
#: the variable-rate architecture (quality ids 1..L are its rate levels 0..L-1)
GAINED = "GainedMeanScaleHyperprior"
#: H and W must be multiples of this (both architectures downsample by 2**6)
PAD = 64


def build_model(n: int, m: int, arch: str = ARCH, lambdas=None):
    """A fresh model ``arch(N=n, M=m)`` (float32, CPU); ``arch`` is one of :data:`ARCHS`;
    ``lambdas`` (the rate levels) only for :data:`GAINED`."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    if arch == GAINED:
        from .gained_hyperprior import DEFAULT_LAMBDAS, gained_mean_scale_hyperprior

        return gained_mean_scale_hyperprior(n, m, DEFAULT_LAMBDAS if lambdas is None else lambdas)
    return model_cls(arch)(int(n), int(m))


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


def levels_of(model) -> int:
    """Rate levels one model holds (1 for the single-rate architectures)."""
    return int(getattr(model, "levels", 1))


def export_checkpoint(model, path: str | os.PathLike, *, quality: int = 1, meta: dict | None = None, half: bool = True,
                      tables: bool = False, arch: str | None = None, config: dict | None = None) -> str:
    """Write a codec checkpoint of ``model``: float16 weights, the entropy-coder tables' digest
    (``meta.tables_sha256``; the tables themselves only with ``tables=True``). Returns the file's
    sha256. See :func:`semlink.entropy.export_model`: the weights are rounded first, the tables
    computed on the CPU from them, exactly as :func:`load_weights` recomputes them.

    Args:
        quality: the rate point stored in ``meta.quality`` (single-rate architectures).
        arch, config: the checkpoint's label and config when the file is not a plain
            hyperprior (gan-c2f's enhancement layer); default :func:`arch_of` / :func:`model_config`.
    """
    return export_model(model, path, arch=arch or arch_of(model),
                        config=(lambda cpu: {**model_config(cpu), **(config or {})}),
                        meta={"quality": int(quality), **(meta or {})}, half=half, tables=tables)


def load_weights(model, ckpt: dict):
    """Load a checkpoint dict's weights into a hyperprior model of the right shape; entropy-coder
    tables that the file does not hold are computed by ``update()`` and checked against the digest
    the file records (``meta.tables_sha256``). Returns ``model``. CheckpointError if they do not fit."""
    cfg = ckpt.get("config", {})
    return load_with_tables(model, ckpt, what=f"{type(model).__name__}(N={cfg.get('N')}, M={cfg.get('M')})")


def model_from_checkpoint(ckpt: dict):
    """Model of the checkpoint's ``arch`` (CPU, eval) from a :mod:`semlink.zoo.checkpoints` dict;
    entropy-coder tables that the file does not hold are computed (and checked against the
    digest the file records)."""
    from semlink.zoo.checkpoints import CheckpointError

    arch = ckpt.get("arch")
    if arch not in ARCHS:
        raise CheckpointError(f"{ckpt.get('path')}: architecture {arch!r}, expected one of {', '.join(ARCHS)}")
    cfg = ckpt.get("config", {})
    model = build_model(cfg["N"], cfg["M"], arch, cfg.get("lambdas"))
    return load_weights(model, ckpt).eval()


class HyperpriorModel:
    """One loaded hyperprior (CPU copy for the hyper path and the tables + a copy on the compute
    device) at one rate level, and its latent coding: image <-> (z string, y string).

    Args:
        model: a CPU model in eval mode with its tables (e.g. :func:`model_from_checkpoint`).
        device: where analysis and synthesis run (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        level: rate level (0-based; only the gained architecture has more than one).
    """

    def __init__(self, model, device: str = "cpu", level: int = 0) -> None:
        self.cpu = model
        self.dev = model if device == "cpu" else copy.deepcopy(model).to(device)
        self.device = device
        self.level = int(level)
        self.z_coder = FactorizedCoder(model.entropy_bottleneck, clip=WIDE_SYMBOL_CLIP)
        self.y_coder = GaussianCoder(model.gaussian_conditional, clip=WIDE_SYMBOL_CLIP)
        self.n_z = self.z_coder.channels
        self.m = model.M
        self.arch = arch_of(model)

    def at_level(self, level: int) -> "HyperpriorModel":
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

    def encode_latents(self, x) -> tuple[bytes, bytes]:
        """rANS strings (z, y) of float [1, 3, H, W] (H, W multiples of :data:`PAD`, CPU). The
        analysis runs on the compute device; symbols and tables on the CPU in float32, as in
        :meth:`decode_latents`."""
        import torch

        with torch.inference_mode():
            y, z = self.analysis(x.to(self.device))
        return encode_hyper(self.z_coder, self.y_coder, y, z, self.gaussian_params)

    def decode_latents(self, z_str: bytes, y_str: bytes, hp: int, wp: int):
        """(float [1, 3, hp, wp] synthesis output on the CPU, raw: neither clipped nor NaN-cleaned;
        problems) from the strings of :meth:`encode_latents`. Never reads past the strings;
        damaged strings give a (partly wrong) output and a non-empty problem list."""
        import torch

        zs = (1, self.n_z, hp // PAD, wp // PAD)
        y_hat, (pz, py) = decode_hyper(self.z_coder, self.y_coder, z_str, y_str, zs, self.gaussian_params)
        problems = [f"{name} string: {p}" for name, p in (("z", pz), ("y", py)) if p]
        with torch.inference_mode():
            x_hat = self.synthesis(y_hat)
        return x_hat, problems
