"""Scoped random generators for Sionna blocks: every draw on the caller's generator.

Sionna 2.x blocks draw from the generators of its global ``sionna.phy.config`` (one
``torch.Generator`` per device, plus numpy and Python generators). Setting ``config.seed``
would also re-seed torch's *global* default generators and leave the state behind for any
later code. :func:`sionna_generators` instead installs fresh generators seeded from one
integer for the duration of a ``with`` block and restores the previous ones afterwards, so
a link transmission draws its channel and noise from a seed taken from the row's own
``numpy.random.Generator`` and nothing outside the block is affected.

Seeding matches ``config.seed = seed`` for Sionna's own generators (device ``i`` of
``config.available_devices`` gets ``seed + i``), so channel draws are the same as Sionna's
for the same seed.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np

_SEED_MODULUS = 2**64


@contextmanager
def sionna_generators(seed: int) -> Iterator[None]:
    """Within the block, Sionna blocks draw from generators seeded with ``seed`` (int >= 0)."""
    import torch
    from sionna.phy import config

    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    saved = (config._seed, config._py_rng, config._np_rng, config._torch_rngs)
    gens = {}
    for i, device in enumerate(config.available_devices):
        g = torch.Generator(device=device)
        g.manual_seed((seed + i) % _SEED_MODULUS)
        gens[device] = g
    config._seed, config._torch_rngs = seed, gens
    config._np_rng, config._py_rng = np.random.default_rng(seed), random.Random(seed)
    try:
        yield
    finally:
        config._seed, config._py_rng, config._np_rng, config._torch_rngs = saved
