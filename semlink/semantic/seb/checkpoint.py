"""Seb checkpoint files (``seb.pt``): export and load of the whole :class:`~.model.SebModel`
(Seb generator, reference patch generator, Seb entropy model and the DVC-style inter coder).

Both the codecs (``seb``, ``dvc-pair``) and the trainer import this module (loading a codec
never imports a trainer).
"""

from __future__ import annotations

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


def export_seb(net, path, meta: dict | None = None) -> str:
    """Write a Seb checkpoint: float16 weights (entropy models' parameters rounded first), the
    quantiles settled (:func:`settle_quantiles`), then the CDF tables."""
    import copy

    import torch

    from semlink.zoo.checkpoints import KEEP_FP32, save_checkpoint

    cpu = copy.deepcopy(net).to("cpu").float().eval()
    with torch.no_grad():
        for name, t in list(cpu.named_parameters()) + list(cpu.named_buffers()):
            if t.is_floating_point() and not name.endswith(KEEP_FP32):
                t.copy_(t.half().float())
    before, after = settle_quantiles(cpu)
    with torch.no_grad():
        cpu.update()
    meta = {**(meta or {}), "aux_loss_at_export": [round(before, 3), round(after, 3)]}
    return save_checkpoint(path, cpu.state_dict(), arch=ARCH, config=cpu.config(), meta=meta, half=True)


def load_seb(path_or_ckpt):
    """SebModel (CPU, eval, entropy tables ready) from a checkpoint path or dict."""
    from semlink.zoo.checkpoints import CheckpointError, read_checkpoint

    from .model import SebModel

    ck = read_checkpoint(path_or_ckpt) if not isinstance(path_or_ckpt, dict) else path_or_ckpt
    if ck.get("arch") != ARCH:
        raise CheckpointError(f"not a Seb checkpoint (arch {ck.get('arch')!r})")
    c = ck["config"]
    inter = {k: v for k, v in c["inter"].items() if k != "levels"}
    m = SebModel(c["n"], c["c"], c["levels"], inter)
    from semlink.nn.dvc import load_state_with_tables

    try:
        load_state_with_tables(m, ck["state_dict"])
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{ck.get('path')}: weights do not fit SebModel({c}): {exc}") from None
    return m.eval()
