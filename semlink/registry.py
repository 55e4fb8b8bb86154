"""One registry style for everything a user can name in a spec or on the command line.

A :class:`Registry` maps names to objects (codec classes, dataset builders, channel models,
training tasks, metrics, channel codes, receivers, figures). Lookup order:

1. names registered in this process (``@REGISTRY.register("name")`` or ``.register("name", obj)``);
2. built-ins, imported lazily: ``builtins`` maps a name to the module whose import registers it
   (so ``semlink --help`` and ``import semlink.codecs`` import no neural network);
3. plug-ins installed as packages: the ``importlib.metadata`` entry points of the registry's
   group (e.g. ``[project.entry-points."semlink.codecs"] mycodec = "mypkg.codec:MyCodec"``),
   loaded on first lookup and registered under the entry point's name;
4. (spec files and ``--plugin`` also import plain ``.py`` files: :mod:`semlink.plugins`.)

An unknown name raises :class:`~semlink.errors.UnknownNameError` listing every known name.
Registering another object under a taken name raises :class:`~semlink.errors.ConfigError`
unless ``replace=True``; registering the same object twice is harmless.

>>> CODECS = Registry("codec", group="semlink.codecs", builtins={"seb": "semlink.semantic.seb.codec"})
>>> @CODECS.register("thumbnail")
... class Thumbnail: ...
>>> CODECS.get("thumbnail") is Thumbnail
True
"""

from __future__ import annotations

import importlib
import threading
from importlib import metadata
from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

from .errors import ConfigError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> objects of one kind (see the module docstring).

    Args:
        kind: what the objects are, for messages ("codec", "dataset", ...).
        group: the ``importlib.metadata`` entry-point group of plug-in packages (None: none).
        builtins: name -> module that registers it when imported (lazy built-ins).
        on_register: called as ``on_register(name, obj)`` when an object is registered (e.g. to
            set ``obj.name``).
    """

    def __init__(self, kind: str, group: str | None = None, builtins: Mapping[str, str] | None = None,
                 on_register: Callable[[str, Any], None] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._builtins = dict(builtins or {})
        self._items: dict[str, T] = {}
        self._on_register = on_register
        self._entry_points: dict[str, Any] | None = None
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ registering
    def register(self, name: str, obj: T | None = None, *, replace: bool = False):
        """Register ``obj`` under ``name``; without ``obj``, a decorator that registers what it decorates."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def add(o: T) -> T:
            with self._lock:
                old = self._items.get(name)
                if old is not None and old is not o and not replace and not _same_class(old, o):
                    raise ConfigError(f"{self.kind} {name!r} is already registered to {old!r}; "
                                      f"pass replace=True to override it")
                self._items[name] = o
            if self._on_register is not None:
                self._on_register(name, o)
            return o

        return add if obj is None else add(obj)

    def add_builtin(self, name: str, module: str) -> None:
        """Declare a lazy built-in: importing ``module`` registers ``name``."""
        self._builtins[name] = module

    # ------------------------------------------------------------------ lookup
    def get(self, name: str) -> T:
        """The object registered as ``name`` (importing its built-in module or plug-in package on
        first use). UnknownNameError lists the known names."""
        with self._lock:
            if name in self._items:
                return self._items[name]
        module = self._builtins.get(name)
        if module is not None:
            importlib.import_module(module)
            with self._lock:
                if name in self._items:
                    return self._items[name]
            raise ConfigError(f"{self.kind} {name!r}: importing {module} did not register it")
        ep = self._plugin_entry_points().get(name)
        if ep is not None:
            obj = ep.load()
            with self._lock:
                if name not in self._items:  # the plug-in's import may have registered it already
                    self.register(name, obj)
                return self._items[name]
        raise UnknownNameError(f"unknown {self.kind} {name!r}", allowed=self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._items or name in self._builtins
                                          or name in self._plugin_entry_points())

    def names(self) -> list[str]:
        """Every known name (registered, built-in, plug-in entry points), sorted; imports nothing."""
        return sorted(set(self._items) | set(self._builtins) | set(self._plugin_entry_points()))

    def loaded(self) -> dict[str, T]:
        """Everything registered so far (no import); a copy."""
        with self._lock:
            return dict(self._items)

    def load_all(self) -> dict[str, T]:
        """Import every built-in and plug-in, then return the name -> object mapping."""
        for name in self.names():
            self.get(name)
        return self.loaded()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _plugin_entry_points(self) -> dict[str, Any]:
        if self.group is None:
            return {}
        if self._entry_points is None:
            try:
                eps = metadata.entry_points(group=self.group)
            except Exception:  # noqa: BLE001 - broken metadata of some unrelated package
                eps = []
            self._entry_points = {ep.name: ep for ep in eps}
        return self._entry_points

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self.names())} names)"


def _same_class(a: object, b: object) -> bool:
    """The same class defined again (a plug-in file imported twice under another module name)."""
    return isinstance(a, type) and isinstance(b, type) and a.__qualname__ == b.__qualname__ and \
        a.__module__ == b.__module__
