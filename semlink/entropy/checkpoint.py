"""Checkpoints of models with entropy models: one export and one load for every learned codec.

Export (:func:`export_model`): a float32 CPU copy of the model whose weights are first rounded
to what the file will hold (float16, except the tensors named in
:data:`semlink.zoo.checkpoints.KEEP_FP32`), then the entropy models' CDF tables computed by
``update(force=True)`` on the CPU in float32 — exactly what a loader recomputes from the same
weights. The file records the tables' digest (``meta.tables_sha256``,
:func:`~semlink.entropy.tables.tables_digest`) and does not store the tables themselves.

Load (:func:`load_with_tables`): the weights, then the tables: a file that stores them (the
files written before this scheme, e.g. the shipped zoo's) is loaded as it is; otherwise they
are recomputed by ``update(force=True)`` and checked against the recorded digest, so an
encoder and a decoder on machines that computed other tables are told instead of silently
mis-decoding.

A model here is a ``torch.nn.Module`` holding CompressAI entropy models whose
``update(force=True)`` computes every table (CompressAI's ``CompressionModel`` or semlink's
own ``update`` methods).
"""

from __future__ import annotations

import copy
import os
from typing import Any, Callable

from .tables import TABLE_BUFFERS, entropy_modules, tables_digest


def rounded_cpu_copy(model, *, half: bool = True, keep: tuple[str, ...] = ()):
    """A float32 CPU copy of ``model`` in eval mode; with ``half`` every floating-point parameter
    and buffer is rounded to float16 precision (what a half-precision file holds), except the
    names ending in ``KEEP_FP32`` and the names in ``keep``."""
    import torch

    from semlink.zoo.checkpoints import KEEP_FP32

    cpu = copy.deepcopy(model).to("cpu").float().eval()
    if half:
        with torch.no_grad():
            for name, t in list(cpu.named_parameters()) + list(cpu.named_buffers()):
                if t.is_floating_point() and not name.endswith(KEEP_FP32) and name not in keep:
                    t.copy_(t.half().float())
    return cpu


def update_tables(model) -> None:
    """Compute every entropy model's tables of ``model`` (``update(force=True)``, no gradient)."""
    import torch

    with torch.no_grad():
        model.update(force=True)


def export_model(model, path: str | os.PathLike, *, arch: str, config: dict | Callable[[Any], dict],
                 meta: dict | None = None, half: bool = True, keep: tuple[str, ...] = (),
                 settle: Callable[[Any], dict] | None = None, tables: bool = False) -> str:
    """Write a codec checkpoint of ``model`` (see the module docstring); returns the file's sha256.

    Args:
        arch: the checkpoint's architecture name (what its loader checks).
        config: the ``config`` dict, or a function of the rounded CPU copy giving it.
        meta: training facts; ``tables_sha256`` is added.
        half: float16 weights (rounded before the tables are computed).
        keep: more tensor names not rounded (they do not enter the tables).
        settle: called on the rounded copy before the tables are computed (e.g. fitting the
            entropy bottlenecks' quantiles); the dict it returns is added to ``meta``.
        tables: also store the tables (files normally do not: the loader recomputes them).
    """
    from semlink.zoo.checkpoints import save_checkpoint

    cpu = rounded_cpu_copy(model, half=half, keep=keep)
    extra = settle(cpu) if settle is not None else {}
    update_tables(cpu)
    info = {**(meta or {}), **(extra or {}), "tables_sha256": tables_digest(cpu)}
    sd = cpu.state_dict()
    if not tables:
        sd = {k: v for k, v in sd.items() if not k.endswith(TABLE_BUFFERS)}
    cfg = config(cpu) if callable(config) else dict(config)
    return save_checkpoint(path, sd, arch=arch, config=cfg, meta=info, half=half)


def load_with_tables(model, ckpt: dict, *, what: str | None = None, update: bool = True):
    """Load a checkpoint dict's weights into ``model`` and make its entropy tables ready; returns
    ``model``.

    Args:
        ckpt: ``state_dict`` (float32 tensors, e.g. from :func:`semlink.zoo.checkpoints.read_checkpoint`),
            optionally ``path`` (for messages) and ``meta.tables_sha256`` (checked when the tables
            are recomputed).
        what: the model as named in messages (default its class name).
        update: compute the tables the file does not hold (False: load the weights and whatever
            tables there are, e.g. a training state's empty ones, and leave them so).

    Raises:
        semlink.zoo.checkpoints.CheckpointError: the weights do not fit ``model`` (a tensor missing,
            unexpected or of another shape), or the recomputed tables differ from the recorded digest.
    """
    import torch

    from semlink.zoo.checkpoints import CheckpointError

    sd = dict(ckpt["state_dict"])
    path = ckpt.get("path")
    has_tables = any(k.endswith("_quantized_cdf") for k in sd)
    try:
        # the buffers that update() sizes (CDF tables, the scale table) take the stored shapes first
        bufs = dict(model.named_buffers())
        for k, v in sd.items():
            if k in bufs and bufs[k].shape != v.shape:
                owner, _, attr = k.rpartition(".")
                setattr(model.get_submodule(owner) if owner else model, attr, torch.empty_like(v, dtype=bufs[k].dtype))
        missing, unexpected = torch.nn.Module.load_state_dict(model, sd, strict=False)
        if not has_tables:
            missing = [k for k in missing if not k.endswith(TABLE_BUFFERS)]
        if missing or unexpected:
            raise RuntimeError(f"missing {missing[:4]}, unexpected {unexpected[:4]}")
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{path}: weights do not fit {what or type(model).__name__}: {exc}") from None
    if update and (not has_tables or any(m._quantized_cdf.numel() == 0 for m in entropy_modules(model))):
        update_tables(model)
        want = ckpt.get("meta", {}).get("tables_sha256")
        got = tables_digest(model) if want else None
        if want and got != want:
            raise CheckpointError(
                f"{path}: the entropy-coder tables computed on this machine (digest {got}) differ from the "
                f"exporter's ({want}); streams would not decode across the two machines")
    return model
