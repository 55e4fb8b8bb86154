"""The seed papers' semantic systems, one folder each (``gan_c2f``, later ``seb``, ``vqdeepvsc``)."""
