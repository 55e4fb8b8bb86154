"""Reading what a user writes: ``KEY=VALUE`` options on a command line and TOML files.

Both raise :class:`~semlink.errors.ConfigError` naming the option or the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from semlink.errors import ConfigError


def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"``/``"false"``/``"none"`` -> True/False/None, else the text."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_key_value(text: str, what: str = "option") -> tuple[str, Any]:
    """``"quality=30"`` -> ``("quality", 30)`` (values as :func:`parse_value`)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"{what} must be KEY=VALUE, got {text!r}")
    return key.strip(), parse_value(value)


def read_toml(path: str | Path, what: str = "file") -> dict:
    """The content of a TOML file; ConfigError naming ``what`` and the file when it is missing or invalid."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{what} {path}: not valid TOML: {e}") from None
