"""Simulator: media -> codec -> link -> codec -> metrics for one item.

This subpackage currently holds :mod:`.metrics`; the runner joins it later.
"""
