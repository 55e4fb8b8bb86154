"""Installing an optional dataset's package with pip (``semlink data fetch NAME``)."""

from __future__ import annotations

import subprocess
import sys

from .registry import dataset_spec


def fetch_command(name: str) -> list[str]:
    """The pip command that installs dataset ``name``'s package into this interpreter.

    Raises:
        ValueError: unknown dataset, or one that ships with the default install.
    """
    spec = dataset_spec(name)
    if spec.package is None:
        raise ValueError(f"dataset {name!r} ships with the default install; nothing to fetch")
    return [sys.executable, "-m", "pip", "install", spec.package]


def fetch(name: str) -> int:
    """Run pip to install dataset ``name``'s package; returns pip's exit code."""
    return subprocess.run(fetch_command(name), check=False).returncode
