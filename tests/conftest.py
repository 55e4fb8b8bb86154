"""Shared fixtures. Sionna's global seed is set per test through the link's rng argument."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
