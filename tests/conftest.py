"""Shared fixtures. Sionna's global seed is set per test through the link's rng argument."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

# Strict decoding: a decoder's unexpected exception fails the test instead of being concealed
# (malformed streams are still concealed; tests of the never-raise policy switch it off locally).
os.environ.setdefault("SEMLINK_STRICT_DECODE", "1")
