"""Seb checkpoint files (``seb.pt``): export and load of the whole :class:`~.model.SebModel`
(Seb generator, reference patch generator, Seb entropy model and the DVC-style inter coder).

Both the codecs (``seb``, ``dvc-pair``) and the trainer import this module (loading a codec
never imports a trainer). Export rounds the weights to float16, settles the entropy
bottlenecks' quantiles (:func:`settle_quantiles`), then computes the tables on the CPU and
records their digest (:mod:`semlink.entropy.checkpoint`); the loader accepts files that store the
tables (the shipped zoo's) and files that do not (recomputed and checked).
"""

from __future__ import annotations

import os

ARCH = "SebModel"


def settle_quantiles(net, schedule=((1000, 0.05), (1000, 0.005))) -> tuple[float, float]:
    """Fit the entropy bottlenecks' quantiles (CompressAI's aux loss) to their densities, which it
    depends on alone (no data): the coding tables then span the densities' support. Returns the
    aux loss (before, after)."""
    import torch

    q = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
    other = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
    req = [p.requires_grad for p in other]
    for p in other:
        p.requires_grad_(False)
    before = float(net.aux_loss().detach())
    for steps, lr in schedule:
        opt = torch.optim.Adam(q, lr=lr)
        for _ in range(int(steps)):
            opt.zero_grad(set_to_none=True)
            loss = net.aux_loss()
            loss.backward()
            opt.step()
    for p, r in zip(other, req):
        p.requires_grad_(r)
    return before, float(net.aux_loss().detach())


def export_seb(net, path: str | os.PathLike, meta: dict | None = None) -> str:
    """Write a Seb checkpoint: float16 weights (entropy models' parameters rounded first), the
    quantiles settled (:func:`settle_quantiles`; ``meta.aux_loss_at_export`` = before, after),
    then the CDF tables' digest. Returns the file's sha256."""
    from semlink.entropy import export_model

    def settle(cpu) -> dict:
        before, after = settle_quantiles(cpu)
        return {"aux_loss_at_export": [round(before, 3), round(after, 3)]}

    return export_model(net, path, arch=ARCH, config=lambda cpu: cpu.config(), meta=dict(meta or {}), settle=settle)


def load_seb(path_or_ckpt):
    """SebModel (CPU, eval, entropy tables ready) from a checkpoint path or dict."""
    from semlink.entropy import load_with_tables
    from semlink.zoo.checkpoints import CheckpointError, read_checkpoint

    from .model import SebModel

    ck = read_checkpoint(path_or_ckpt) if not isinstance(path_or_ckpt, dict) else path_or_ckpt
    if ck.get("arch") != ARCH:
        raise CheckpointError(f"not a Seb checkpoint (arch {ck.get('arch')!r})")
    c = ck["config"]
    inter = {k: v for k, v in c["inter"].items() if k != "levels"}
    m = SebModel(c["n"], c["c"], c["levels"], inter)
    return load_with_tables(m, ck, what=f"SebModel({c})").eval()
