"""Rate-distortion curves of image codecs on a dataset, and Bjontegaard deltas between them.

>>> from semlink.rd import rd_points, bd_rate_table
>>> rows = rd_points("photos", {"jpeg2000": [("bpp", 0.1), ("bpp", 0.3)], "hyperprior": "all"})

The command line front end is ``semlink rd`` (:mod:`semlink.rd.cli`).
"""

from .bd import bd_rate_table, mean_curve
from .curves import RATE_GRID_BPP, rd_points

__all__ = ["rd_points", "mean_curve", "bd_rate_table", "RATE_GRID_BPP"]
