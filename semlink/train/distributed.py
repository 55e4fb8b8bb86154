"""Data-parallel training with PyTorch's own engine (``torch.distributed``), started by torchrun::

    torchrun --nproc-per-node 2 -m semlink.train hyperprior --recipe FILE.toml        # gloo on CPU
    torchrun --nproc-per-node 8 -m semlink.train hyperprior --recipe FILE.toml --device cuda   # NCCL

Every process (rank) builds the same network from the same seed, then takes rank 0's weights
(broadcast), draws its own crops and noise (seeded by rank and step), and before every optimizer
step the gradients of that optimizer's parameters are averaged over the ranks (one coalesced
all-reduce), so every rank applies the same update and the weights stay equal (checked at every
checkpoint: a rank whose weights differ stops the run). ``--batch`` is per process: the
effective batch is ``world size x batch``. Rank 0 alone writes the log, validation, checkpoints
and exports; a ``--max-minutes`` stop is decided by rank 0 and shared, so all ranks stop at the
same step, and ``--resume`` continues on any number of ranks.

This is the gradient averaging of ``DistributedDataParallel`` without its wrapper: the tasks'
``train_step`` keeps calling its own network and submodules unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DistContext:
    """This process's place in a data-parallel run (``world == 1``: a plain run)."""

    rank: int = 0
    world: int = 1
    backend: str = ""

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_from_env(device: str) -> DistContext:
    """Join the process group torchrun describes (``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR``...);
    a plain context where ``WORLD_SIZE`` is unset or 1. gloo on CPU, NCCL on CUDA (each rank on
    ``cuda:LOCAL_RANK``)."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return DistContext(dist.get_rank(), dist.get_world_size(), backend)


def local_device(ctx: DistContext, device: str) -> str:
    """The device of this rank: ``cuda:LOCAL_RANK`` for a CUDA run, else ``device``."""
    if ctx.active and device.startswith("cuda"):
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def broadcast_module(ctx: DistContext, module) -> None:
    """Every rank takes rank 0's parameters and buffers."""
    import torch
    import torch.distributed as dist

    if not ctx.active:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def agree(ctx: DistContext, flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (used for the time-limit stop)."""
    import torch
    import torch.distributed as dist

    if not ctx.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    if ctx.backend == "nccl":
        t = t.cuda()
    dist.broadcast(t, src=0)
    return bool(t.item() > 0.5)


def shutdown(ctx: DistContext, clean: bool = True) -> None:
    """Leave the process group. ``clean`` (every rank got here normally): wait for every rank first,
    so that no rank tears its connections down while a peer still uses them (gloo then aborts the
    peer: "terminate called without an active exception"); after an error, leave at once (a
    barrier could wait for a rank that died)."""
    import torch.distributed as dist

    if not ctx.active or not dist.is_initialized():
        return
    if clean:
        dist.barrier()
    dist.destroy_process_group()


def check_equal(ctx: DistContext, module) -> None:
    """Raise RuntimeError when the ranks' weights differ (a sum and a weighted checksum compared)."""
    import torch
    import torch.distributed as dist

    if not ctx.active:
        return
    with torch.no_grad():
        acc = torch.zeros(2, dtype=torch.float64, device=next(module.parameters()).device)
        for i, p in enumerate(module.parameters()):
            v = p.detach().double()
            acc[0] += v.sum()
            acc[1] += (v.flatten() * (1.0 + (i % 7))).abs().sum()
        lo, hi = acc.clone(), acc.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    if not torch.equal(lo, hi):
        raise RuntimeError(f"data-parallel ranks hold different weights (checksums {lo.tolist()} vs {hi.tolist()})")


class AveragingOptimizer:
    """An optimizer whose ``step()`` first averages its parameters' gradients over the ranks.

    Everything else (``zero_grad``, ``param_groups``, ``state_dict``...) is the wrapped optimizer's.
    """

    def __init__(self, optimizer, ctx: DistContext) -> None:
        self._opt = optimizer
        self._ctx = ctx

    def __getattr__(self, name):
        return getattr(self._opt, name)

    def _average(self) -> None:
        import torch
        import torch.distributed as dist

        params = [p for g in self._opt.param_groups for p in g["params"]]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self._ctx.world
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            chunk = flat[offset:offset + n].view_as(g)
            if p.grad is None:
                p.grad = chunk.clone()
            else:
                p.grad.copy_(chunk)
            offset += n

    def step(self, *args, **kwargs):
        if self._ctx.active:
            self._average()
        return self._opt.step(*args, **kwargs)
