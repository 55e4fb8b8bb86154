"""gan-c2f checkpoint files: export and load of the base layer and of the enhancement layers.

Both the codec and the trainers import this module (loading a codec never imports a trainer).
Exports round the weights to float16 first, then compute the entropy tables on the CPU and
record their digest (:mod:`semlink.entropy.checkpoint`); loads accept files that store the
tables (the shipped zoo's) and files that do not (recomputed and checked).

* base layer (:class:`~.model.BaseLayer`): arch :data:`BASE_ARCH`, config = ``BaseLayer.config()``;
* enhancement layer (a CompressAI ``MeanScaleHyperprior`` on the residual): arch
  :data:`ENH_ARCH`, config N, M, the inner architecture ``inner_arch`` and ``conditional``
  (v2: it sees the base, :func:`.model.build_enhancement`); ``meta.base_sha256`` names the base
  layer it was trained behind.
"""

from __future__ import annotations

import os

BASE_ARCH = "GanC2FBase"
ENH_ARCH = "GanC2FEnhancement"


def export_base(base, path: str | os.PathLike, meta: dict | None = None) -> str:
    """Write a base-layer codec checkpoint (float16 weights; entropy tables computed on the CPU
    from the rounded weights, their digest recorded); returns the file's sha256. The semantic
    map's k-means ``centres`` are not rounded before the tables (they do not enter them)."""
    from semlink.entropy import export_model

    return export_model(base, path, arch=BASE_ARCH, config=lambda cpu: cpu.config(), meta=dict(meta or {}),
                        keep=("centres",))


def load_base(path_or_ckpt):
    """A :class:`~.model.BaseLayer` (CPU, eval, entropy tables ready) from a checkpoint file or dict."""
    from semlink.entropy import load_with_tables
    from semlink.zoo.checkpoints import CheckpointError, read_checkpoint

    from .model import BaseLayer

    ck = read_checkpoint(path_or_ckpt) if not isinstance(path_or_ckpt, dict) else path_or_ckpt
    if ck.get("arch") != BASE_ARCH:
        raise CheckpointError(f"{ck.get('path')}: architecture {ck.get('arch')!r}, expected {BASE_ARCH}")
    c = ck["config"]
    base = BaseLayer(c["k"], c["c_latent"], c["n"], tuple(c["widths"]), c["hidden"], tuple(c["levels"]),
                     c.get("map_features", "colour"))  # files before v2 hold colour maps
    return load_with_tables(base, ck).eval()


def export_enhancement(net, path: str | os.PathLike, meta: dict | None = None) -> str:
    """Write an enhancement-layer checkpoint (arch :data:`ENH_ARCH`; the inner CompressAI
    architecture in ``config["inner_arch"]``; float16 weights, CPU-computed tables' digest)."""
    from semlink.nn.hyperprior import arch_of, export_checkpoint

    from .model import is_conditional

    return export_checkpoint(net, path, meta=dict(meta or {}), arch=ENH_ARCH,
                             config={"inner_arch": arch_of(net), "conditional": is_conditional(net)})


def load_enhancement(ck: dict, base_path: str | None = None):
    """The enhancement layer (CPU, eval, tables ready) of a checkpoint dict of :data:`ENH_ARCH`.

    Args:
        base_path: the base layer's file; CheckpointError if the enhancement layer records
            (``meta.base_sha256``) that it was trained behind another one.
    """
    from semlink.nn.hyperprior import build_model, load_weights
    from semlink.zoo.checkpoints import CheckpointError, sha256_file

    from .model import build_enhancement

    if ck.get("arch") != ENH_ARCH:
        raise CheckpointError(f"{ck.get('path')}: architecture {ck.get('arch')!r}, expected {ENH_ARCH}")
    want = ck.get("meta", {}).get("base_sha256")
    base_sha = sha256_file(base_path) if want and base_path else None
    if want and base_sha and want != base_sha:
        raise CheckpointError(f"{ck.get('path')} was trained behind another base layer (sha256 {want[:12]}..), "
                              f"not {base_path} ({base_sha[:12]}..)")
    c = ck["config"]
    if c.get("conditional"):
        return load_weights(build_enhancement(c["N"], c["M"], conditional=True), ck).eval()
    return load_weights(build_model(c["N"], c["M"], c.get("inner_arch", "MeanScaleHyperprior")), ck).eval()
