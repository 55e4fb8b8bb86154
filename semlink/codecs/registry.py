"""Codec registry: names used in sweep specs -> codec classes (or factories).

Usage::

    @register_codec("jpeg")
    class JpegCodec(Codec): ...

    codec = get_codec("jpeg", subsampling="4:4:4")   # options go to the constructor

:data:`CODECS` is a :class:`semlink.registry.Registry`: the semantic systems are lazy built-ins
(imported on first use, so ``import semlink.codecs`` stays light), and installed packages add
codecs through the entry-point group ``semlink.codecs``.
"""

from __future__ import annotations

from typing import Any, Callable

from semlink.errors import ConfigError
from semlink.registry import Registry

from .base import Codec

#: codecs of the semantic systems, registered when their module is first imported (by name, so
#: that ``semlink.codecs`` never imports a system and stays light to import)
LAZY_CODECS = {"gan-c2f": "semlink.semantic.gan_c2f.codec", "vqdeepvsc": "semlink.semantic.vqdeepvsc.codec",
               "seb": "semlink.semantic.seb.codec", "dvc-pair": "semlink.semantic.seb.dvc_pair"}
#: codecs registered when their module is first used (the anchors of published comparisons)
LAZY_CODECS["jpeg2000-ffmpeg"] = "semlink.codecs.jpeg2000_ffmpeg"




def _set_name(name: str, factory: Any) -> None:
    if isinstance(factory, type):
        factory.name = name


CODECS: Registry[Callable[..., Codec]] = Registry("codec", group="semlink.codecs", builtins=LAZY_CODECS,
                                                   on_register=_set_name)


def register_codec(name: str) -> Callable[[Callable[..., Codec]], Callable[..., Codec]]:
    """Class decorator registering a codec factory under ``name`` (also sets ``cls.name``)."""
    return CODECS.register(name)


def get_codec(name: str, **options: Any) -> Codec:
    """Build the codec registered as ``name`` with constructor ``options``.

    Raises:
        ConfigError (a ValueError): unknown name (the message lists the registered names), or an
            option the codec does not take (the message names the codec and lists its options).
    """
    factory = codec_class(name)
    accepted = factory.options() if isinstance(factory, type) and issubclass(factory, Codec) else None
    if accepted is not None:
        import inspect

        takes_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(factory.__init__).parameters.values())
        unknown = sorted(set(options) - set(accepted))
        if unknown and not takes_any:
            raise ConfigError(f"codec {name!r} has no option(s) {unknown}; its options: {', '.join(accepted) or 'none'}")
    try:
        return factory(**options)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:  # a constructor's option check
        raise ConfigError(f"codec {name!r}: {e}") from None


def codec_class(name: str) -> Callable[..., Codec]:
    """The class (or factory) registered as ``name``; UnknownNameError listing the names if unknown."""
    return CODECS.get(name)


def list_codecs(kind: str | None = None) -> list[str]:
    """Sorted codec names (imports nothing), or only those of ``kind`` ("image" | "video"; this
    imports every codec to read its kind)."""
    if kind is None:
        return CODECS.names()
    return [n for n, f in sorted(CODECS.load_all().items()) if getattr(f, "kind", None) == kind]
