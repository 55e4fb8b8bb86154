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
#: the private attributes of ``sionna.phy.config`` this adapter swaps (sionna-no-rt 2.2.0); the only
#: place semlink touches Sionna's internals (tests/test_phy_link.py checks they still exist)
SIONNA_RNG_ATTRIBUTES = ("_seed", "_py_rng", "_np_rng", "_torch_rngs")


def check_sionna_rng_attributes() -> None:
    """RuntimeError naming the missing attributes when Sionna's config no longer has them."""
    from sionna.phy import config

    missing = [a for a in SIONNA_RNG_ATTRIBUTES if not hasattr(config, a)]
    if missing:
        raise RuntimeError(f"sionna.phy.config lacks {missing}: semlink.phy.rng was written for sionna-no-rt 2.2.0 "
                           f"(pyproject.toml pins it); adapt sionna_generators to the installed Sionna")


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
