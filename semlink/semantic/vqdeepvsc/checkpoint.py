"""VQ-DeepVSC checkpoint files: export and load of the MSVQ key-frame codec and of the
interpolator (IFNet + FusionNet).

Both the codec and the trainers (:mod:`.train_task`, :mod:`.interp_task`) import this module
(loading the codec never imports a trainer). Neither network has an entropy model: the files
hold float16 weights (the MSVQ's codebook as stored by the model) and the config each
constructor takes.
"""

from __future__ import annotations

import copy
import os

MSVQ_ARCH = "VQDeepVSC-MSVQ"
IF_ARCH = "VQDeepVSC-Interpolator"


def export_msvq(msvq, path: str | os.PathLike, meta: dict | None = None) -> str:
    """Write an MSVQ codec checkpoint (float16 weights, float32 codebook); returns its sha256."""
    from semlink.zoo.checkpoints import save_checkpoint

    cpu = copy.deepcopy(msvq).to("cpu").float().eval()
    return save_checkpoint(path, cpu.state_dict(), arch=MSVQ_ARCH, config=cpu.config(), meta=dict(meta or {}),
                           half=True)


def load_msvq(path_or_ckpt):
    """An :class:`~.msvq.MSVQ` (CPU, eval) from a checkpoint file or dict."""
    from semlink.zoo.checkpoints import CheckpointError, read_checkpoint

    from .msvq import MSVQ

    ck = read_checkpoint(path_or_ckpt) if not isinstance(path_or_ckpt, dict) else path_or_ckpt
    if ck.get("arch") != MSVQ_ARCH:
        raise CheckpointError(f"not a VQ-DeepVSC MSVQ checkpoint (arch {ck.get('arch')!r})")
    c = ck["config"]
    m = MSVQ(tuple(c["widths"]), c["c"], c["d"], c["L"], tuple(c["levels"]), c["commitment"], c["decay"])
    m.load_state_dict(ck["state_dict"])
    return m.eval()


def export_interpolator(net, path: str | os.PathLike, meta: dict | None = None) -> str:
    """Write an interpolator checkpoint (float16 weights); returns its sha256."""
    from semlink.zoo.checkpoints import save_checkpoint

    cpu = copy.deepcopy(net).to("cpu").float().eval()
    return save_checkpoint(path, cpu.state_dict(), arch=IF_ARCH, config=cpu.config(), meta=dict(meta or {}), half=True)


def load_interpolator(path_or_ckpt):
    """An :class:`~.interp.Interpolator` (CPU, eval) from a checkpoint file or dict."""
    from semlink.zoo.checkpoints import CheckpointError, read_checkpoint

    from .interp import Interpolator

    ck = read_checkpoint(path_or_ckpt) if not isinstance(path_or_ckpt, dict) else path_or_ckpt
    if ck.get("arch") != IF_ARCH:
        raise CheckpointError(f"not a VQ-DeepVSC interpolator checkpoint (arch {ck.get('arch')!r})")
    m = Interpolator(tuple(ck["config"]["ifnet_ch"]), tuple(ck["config"]["fusion_ch"]))
    m.load_state_dict(ck["state_dict"])
    return m.eval()
