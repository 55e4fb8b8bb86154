"""gan-c2f checkpoint files: export and load of the base layer and of the enhancement layers.

Both the codec and the trainers import this module (loading a codec never imports a trainer).

* base layer (:class:`~.model.BaseLayer`): arch :data:`BASE_ARCH`, config = ``BaseLayer.config()``;
* enhancement layer (a CompressAI ``MeanScaleHyperprior`` on the residual): arch
  :data:`ENH_ARCH`, config N, M and the inner architecture ``inner_arch``; ``meta.base_sha256``
  names the base layer it was trained behind.
"""

from __future__ import annotations

BASE_ARCH = "GanC2FBase"
ENH_ARCH = "GanC2FEnhancement"


def export_base(base, path, meta: dict | None = None) -> str:
    """Write a base-layer codec checkpoint (float16 weights; entropy tables computed on the CPU
    from the rounded weights, as :func:`semlink.nn.hyperprior.export_checkpoint` does)."""
    import copy

    import torch

    from semlink.zoo.checkpoints import KEEP_FP32, save_checkpoint

    cpu = copy.deepcopy(base).to("cpu").float().eval()
    with torch.no_grad():
        for name, t in list(cpu.named_parameters()) + list(cpu.named_buffers()):
            if t.is_floating_point() and not name.endswith(KEEP_FP32) and name != "centres":
                t.copy_(t.half().float())
        cpu.update(force=True)
    sd = cpu.state_dict()
    return save_checkpoint(path, sd, arch=BASE_ARCH, config=cpu.config(), meta=dict(meta or {}), half=True)


def load_base(path_or_ckpt) -> "object":
    """A :class:`~.model.BaseLayer` (CPU, eval, entropy tables ready) from a checkpoint file or dict."""
    import torch

    from semlink.zoo.checkpoints import CheckpointError, read_checkpoint

    from .model import BaseLayer

    ck = read_checkpoint(path_or_ckpt) if not isinstance(path_or_ckpt, dict) else path_or_ckpt
    if ck.get("arch") != BASE_ARCH:
        raise CheckpointError(f"{ck.get('path')}: architecture {ck.get('arch')!r}, expected {BASE_ARCH}")
    c = ck["config"]
    base = BaseLayer(c["k"], c["c_latent"], c["n"], tuple(c["widths"]), c["hidden"], tuple(c["levels"]))
    base.load_state_dict(ck["state_dict"])
    if base.entropy_bottleneck._quantized_cdf.numel() == 0:
        with torch.no_grad():
            base.update(force=True)
    return base.eval()


def export_enhancement(net, path, meta: dict | None = None) -> str:
    """Write an enhancement-layer checkpoint (arch :data:`ENH_ARCH`; the inner CompressAI
    architecture in ``config["inner_arch"]``; float16 weights, CPU-computed CDF tables)."""
    from semlink.nn.hyperprior import export_checkpoint
    from semlink.zoo.checkpoints import read_checkpoint, save_checkpoint

    export_checkpoint(net, path, meta=dict(meta or {}))
    ck = read_checkpoint(path)  # re-label: this file is an enhancement layer, not a hyperprior codec
    return save_checkpoint(path, ck["state_dict"], arch=ENH_ARCH, config={**ck["config"], "inner_arch": ck["arch"]},
                           meta=ck["meta"], half=True)
