"""semlink's exception classes: what the user can fix versus what went wrong in the code.

* :class:`ConfigError` — a spec, option, name, file or installation the user can fix. The
  command line reports it in one line (exit code 2); every other exception keeps its traceback.
  It is a ``ValueError`` (so ``except ValueError`` keeps catching it).
* :class:`UnknownNameError` — a name that no registry knows (lists the known ones).
* :class:`UnavailableError` — an optional package, dataset or weight file that is not installed
  (says what to install).
* :class:`StreamError` — a received bitstream is malformed: the normal case after a noisy
  channel. Decoders turn it into concealment (see :mod:`semlink.codecs.base`), never into a crash.
"""

from __future__ import annotations

from typing import Iterable


class SemlinkError(Exception):
    """Base class of semlink's own exceptions."""


class ConfigError(SemlinkError, ValueError):
    """Something the user can fix: a bad option, spec key, name, file or installation.

    Args:
        message: what is wrong, naming the field or file.
        allowed: the valid choices, appended to the message when given.
        hint: what to do, appended to the message when given.
    """

    def __init__(self, message: str, *, allowed: Iterable[str] = (), hint: str = "") -> None:
        allowed = list(allowed)
        text = message
        if allowed:
            text += f"; known: {', '.join(map(str, allowed))}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)
        self.allowed = allowed
        self.hint = hint


class UnknownNameError(ConfigError):
    """A name that the registry of its kind does not know."""


class UnavailableError(ConfigError):
    """An optional package, dataset or weight file is not installed (the message says how to get it)."""


class StreamError(SemlinkError, ValueError):
    """A received bitstream cannot be parsed (expected after channel errors; decoders conceal it)."""
