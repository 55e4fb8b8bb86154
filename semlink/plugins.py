"""Plug-ins: a user's own codecs, channels or datasets, imported before a spec is validated.

A spec's top-level ``plugins = ["mylab.codecs", "path/to/file.py"]`` names importable modules
(dotted names) or Python files (anything ending in ``.py``; relative paths are taken from the
current directory, like the spec's ``out``). Importing them runs their ``@register_codec``,
``@register_channel`` or ``@register_dataset`` decorators. The sweep runner imports the same
plug-ins in every worker process (and on Dask workers, which must see the same files).

A file is imported once per process under a module name derived from its absolute path, so
loading a spec twice does not register a codec twice.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Iterable

from semlink.errors import ConfigError


def resolve_plugins(entries: Iterable[str]) -> tuple[str, ...]:
    """Validate plug-in entries; files become absolute paths (so workers find them).

    Raises:
        ValueError: an entry that is not a string, or a ``.py`` file that does not exist.
    """
    out = []
    for e in entries:
        if not isinstance(e, str) or not e:
            raise ConfigError(f"plugins: entries must be module names or .py files, got {e!r}")
        if e.endswith(".py") or "/" in e or "\\" in e:
            p = Path(e).expanduser()
            if not p.is_file():
                raise ConfigError(f"plugins: file {e!r} does not exist (relative paths are from {Path.cwd()})")
            out.append(str(p.resolve()))
        else:
            out.append(e)
    return tuple(out)


def load_plugins(entries: Iterable[str]) -> list[str]:
    """Import each plug-in (module name or .py file); returns the module names imported.

    Raises:
        ValueError: a module that cannot be found, or a plug-in whose import fails (the
            message names the plug-in and the error).
    """
    names = []
    for e in resolve_plugins(entries):
        if e.endswith(".py"):
            names.append(_load_file(Path(e)))
            continue
        try:
            importlib.import_module(e)
        except ModuleNotFoundError as exc:
            if exc.name and e.startswith(exc.name):
                raise ConfigError(f"plugins: module {e!r} not found (is it installed or on PYTHONPATH?)") from None
            raise ConfigError(f"plugins: importing {e!r} failed: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - any error in a user's module is reported with its name
            raise ConfigError(f"plugins: importing {e!r} failed: {type(exc).__name__}: {exc}") from exc
        names.append(e)
    return names


def _load_file(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"semlink_plugin_{path.stem}_{digest}"
    if name in sys.modules:
        return name
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"plugins: cannot import file {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001
        del sys.modules[name]
        raise ConfigError(f"plugins: importing {str(path)!r} failed: {type(exc).__name__}: {exc}") from exc
    return name
