"""Codec registry: names used in sweep specs -> codec classes (or factories).

Usage::

    @register_codec("jpeg")
    class JpegCodec(Codec): ...

    codec = get_codec("jpeg", subsampling="4:4:4")   # options go to the constructor
"""

from __future__ import annotations

from typing import Any, Callable

from .base import Codec

_REGISTRY: dict[str, Callable[..., Codec]] = {}

#: codecs of the semantic systems, registered when their module is first imported (by name, so
#: that ``semlink.codecs`` never imports a system and stays light to import)
LAZY_CODECS = {"gan-c2f": "semlink.semantic.gan_c2f.codec", "vqdeepvsc": "semlink.semantic.vqdeepvsc.codec",
               "seb": "semlink.semantic.seb.codec", "dvc-pair": "semlink.semantic.seb.dvc_pair"}


def _import_lazy(name: str | None = None) -> None:
    import importlib

    for codec, module in LAZY_CODECS.items():
        if (name is None or name == codec) and codec not in _REGISTRY:
            importlib.import_module(module)


def register_codec(name: str) -> Callable[[Callable[..., Codec]], Callable[..., Codec]]:
    """Class decorator registering a codec factory under ``name`` (also sets ``cls.name``)."""

    def decorator(factory: Callable[..., Codec]) -> Callable[..., Codec]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"codec name {name!r} is already registered to {_REGISTRY[name]!r}")
        if isinstance(factory, type):
            factory.name = name
        _REGISTRY[name] = factory
        return factory

    return decorator


def get_codec(name: str, **options: Any) -> Codec:
    """Build the codec registered as ``name`` with constructor ``options``.

    Raises:
        ValueError: unknown name (the message lists the registered names), or an option the
            codec does not take (the message names the codec and lists its options).
    """
    factory = codec_class(name)
    accepted = factory.options() if isinstance(factory, type) and issubclass(factory, Codec) else None
    if accepted is not None:
        import inspect

        takes_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(factory.__init__).parameters.values())
        unknown = sorted(set(options) - set(accepted))
        if unknown and not takes_any:
            raise ValueError(f"codec {name!r} has no option(s) {unknown}; its options: {', '.join(accepted) or 'none'}")
    try:
        return factory(**options)
    except TypeError as e:
        raise ValueError(f"codec {name!r}: {e}") from None


def codec_class(name: str) -> Callable[..., Codec]:
    """The class (or factory) registered as ``name``; ValueError listing the names if unknown."""
    _import_lazy(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; registered codecs: {', '.join(list_codecs())}") from None


def list_codecs(kind: str | None = None) -> list[str]:
    """Sorted registered codec names, optionally only those of ``kind`` ("image" | "video")."""
    _import_lazy()
    names = sorted(_REGISTRY)
    if kind is None:
        return names
    return [n for n in names if getattr(_REGISTRY[n], "kind", None) == kind]
