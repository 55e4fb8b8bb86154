"""The one codec interface shared by classical and learned, image and video codecs.

Data flow (see DESIGN.md)::

    enc = codec.encode(item, bpp=0.3)          # -> Encoded: named byte parts (all of them cross the link)
    received = link.transmit(...)              # -> Received: bytes, packet layout, CRC flags (+ LLRs)
    rec = codec.decode(received)               # rec.image / rec.frames, rec.decoded_ok, rec.reason
    rec = codec.decode(enc)                    # no channel: every part intact

Bit accounting: everything the decoder reads from the channel is in ``Encoded.parts``
(including the codec's own header, as part ``"header"`` where the codec has one).
``Encoded.num_bits`` is the sum over all parts. ``Encoded.shape`` is *not* transmitted:
it is the shape of the source item, used only to size a concealed reconstruction when the
stream cannot be decoded (so that metrics can still be computed against the original).
``Encoded.info`` holds encoder-side facts for the results table (e.g. the quality parameter
rate control settled on); decoders never see it (:class:`Received` does not carry it).

Capabilities a codec declares as class attributes (read by the sweep runner and validated
before a sweep starts):

* ``kind``: ``"image"`` or ``"video"``; must match the dataset's kind.
* ``rate_keys``: the rate keywords ``encode`` accepts (``bpp``, ``quality``, ``crf``, ...).
* ``channel_adaptive``: ``encode`` takes ``channel_state=ChannelState(...)`` (SNR, link
  settings, channel-use budget) and may code differently per state; the runner caches such
  encodings per state.
* ``wants_llr``: the runner asks the link for per-bit LLRs of every part.
* ``part_names()``: the parts, in priority order (most important first); unequal error
  protection (``[link.protect]`` in a spec) names them.

Set codecs (:class:`SetCodec`) code a *set* of images jointly: shared parts (e.g. semantic
bases) sent once per set, plus per-image parts.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import functools
import os
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np

from semlink.errors import ConfigError, StreamError
from semlink.phy.state import ChannelState  # noqa: F401  (what an adaptive encoder is told; re-exported)

from .received import Received, ReceivedPart, as_received

Kind = Literal["image", "video"]
_ADDRESS = re.compile(r"(?: at| @) 0x[0-9a-fA-F]+")  # "<BytesIO at 0x..>", FFmpeg's "[hevc @ 0x..]"


@dataclass(frozen=True)
class Encoded:
    """A coded item: named byte parts plus bookkeeping.

    Attributes:
        codec: registry name of the codec that produced it.
        kind: ``"image"`` or ``"video"``.
        shape: shape of the source item, ``(H, W, 3)`` or ``(T, H, W, 3)``; not transmitted.
        parts: part name -> bytes. Everything that crosses the link.
        info: encoder-side facts for results (e.g. ``{"quality": 31}``); never seen by ``decode``.
    """

    codec: str
    kind: Kind
    shape: tuple[int, ...]
    parts: dict[str, bytes]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_bytes(self) -> int:
        """All transmitted bytes (every part, header included)."""
        return sum(len(b) for b in self.parts.values())

    @property
    def num_bits(self) -> int:
        """All transmitted bits (every part, header included)."""
        return 8 * self.num_bytes

    def bits_per_part(self) -> dict[str, int]:
        """Transmitted bits of each part."""
        return {k: 8 * len(v) for k, v in self.parts.items()}

    def received(self, with_llr: bool = False) -> Received:
        """The :class:`Received` of an error-free channel (every part intact)."""
        return as_received(self, with_llr)

    def with_received(self, parts: dict[str, bytes]) -> Received:
        """A :class:`Received` holding ``parts`` as if every packet had passed its CRC
        (undetected corruption; what fuzz tests feed a decoder)."""
        return Received(self.codec, self.kind, tuple(self.shape), {k: ReceivedPart.intact(v) for k, v in parts.items()})


@dataclass(frozen=True)
class Reconstruction:
    """A decoded item.

    Attributes:
        data: uint8 [H, W, 3] (image) or [T, H, W, 3] (video); always the source shape.
        decoded_ok: False when the decoder failed and ``data`` is a concealment.
        reason: why decoding failed ("" when it did not).
        recovered: fraction of the coded item the decoder could use (e.g. the intact prefix of a
            progressive stream over its length), None where not meaningful.
    """

    data: np.ndarray
    decoded_ok: bool = True
    reason: str = ""
    recovered: float | None = None

    def __post_init__(self):
        # Library messages often embed object addresses ("<BytesIO at 0x7f..>"): drop them so the
        # same failure gives the same reason in every run (results must be reproducible).
        if self.reason:
            object.__setattr__(self, "reason", _ADDRESS.sub("", self.reason))

    @property
    def image(self) -> np.ndarray:
        return self.data

    @property
    def frames(self) -> np.ndarray:
        return self.data


class Codec(abc.ABC):
    """Base class of every codec. Subclasses are registered with :func:`register_codec`.

    Class attributes (capabilities; see the module docstring): ``kind``, ``rate_keys``,
    ``channel_adaptive``, ``wants_llr``, ``codes_sets``. ``decode`` accepts a :class:`Received`
    or, for a channel-free round trip, the :class:`Encoded` itself.
    """

    name: str = ""
    kind: Kind = "image"
    #: rate keywords ``encode`` accepts, e.g. ("bpp", "quality"); () = not declared.
    rate_keys: tuple[str, ...] = ()
    #: the rate keyword of the values ``rate_points()`` lists.
    native_rate_key: str = "quality"
    #: ``encode`` takes ``channel_state=ChannelState(...)`` and may depend on it.
    channel_adaptive: bool = False
    #: the decoder uses per-bit LLRs (``Received.part(name).llr``).
    wants_llr: bool = False
    #: codes sets of images jointly (:class:`SetCodec`).
    codes_sets: bool = False
    #: the same input and rate always give the same bytes (the sweep then shares encodings
    #: between workers through its on-disk cache); False for codecs that draw random numbers.
    deterministic: bool = True
    #: the manifest ``codec`` names of the shipped zoo models it loads unless given files (its
    #: fingerprint then holds those entries' sha256, so that retraining one model invalidates the
    #: rows of the codecs that load it and no others: :mod:`semlink.sweep.fingerprint`)
    zoo_codecs: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # decode() of every codec accepts an Encoded too (a channel-free round trip) and follows
        # the one never-raise policy (see guarded_decode)
        if "decode" in cls.__dict__ and not getattr(cls.__dict__["decode"], "_accepts_encoded", False):
            cls.decode = _accept_encoded(cls.__dict__["decode"])

    @abc.abstractmethod
    def encode(self, item: np.ndarray, **rate: Any) -> Encoded:
        """Code ``item`` at a rate point given as keyword (one of ``rate_keys``); channel-adaptive
        codecs also receive ``channel_state=ChannelState(...)``."""

    @abc.abstractmethod
    def decode(self, received: Received) -> Reconstruction:
        """Decode; must never raise on corrupted parts (returns a concealment instead)."""

    def rate_points(self) -> list[Any]:
        """Native quality points, low to high rate (used by sweeps that list no rate)."""
        return []

    def part_names(self) -> tuple[str, ...]:
        """Names of the transmitted parts, most important first (() = not declared)."""
        return ()

    @classmethod
    def options(cls) -> list[str]:
        """Names of the constructor options (for error messages and ``--help``)."""
        import inspect

        try:
            sig = inspect.signature(cls.__init__)
        except (TypeError, ValueError):
            return []
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


# ------------------------------------------------------------------------- the never-raise policy
#: strict decoding: a decoder's unexpected exception is raised (as DecodeError) instead of concealed;
#: the test suite turns it on (SEMLINK_STRICT_DECODE=1, or the strict_decoding() context)
_STRICT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "semlink_strict_decoding", default=os.environ.get("SEMLINK_STRICT_DECODE", "") == "1")


@contextlib.contextmanager
def strict_decoding(on: bool = True):
    """Within the block, decoders raise :class:`DecodeError` on an unexpected exception instead of
    concealing it (malformed streams, :class:`~semlink.errors.StreamError`, are still concealed)."""
    token = _STRICT.set(on)
    try:
        yield
    finally:
        _STRICT.reset(token)


class DecodeError(RuntimeError):
    """Strict decoding: a decoder failed on something other than a malformed stream."""


def conceal(shape: tuple[int, ...], reason: str) -> Reconstruction:
    """Plain concealment: mid-grey of the source shape, ``decoded_ok=False`` with the reason."""
    return Reconstruction(np.full(tuple(shape), 128, np.uint8), False, reason, recovered=0.0)


def check_reconstruction(rec: Any, shape: tuple[int, ...]) -> None:
    """ValueError unless ``rec`` is a Reconstruction of uint8 data of ``shape``."""
    if not isinstance(rec, Reconstruction):
        raise ValueError(f"decoder returned {type(rec).__name__}, expected a Reconstruction")
    if rec.data.shape != tuple(shape) or rec.data.dtype != np.uint8:
        raise ValueError(f"decoder returned {rec.data.dtype} {rec.data.shape}, expected uint8 {tuple(shape)}")


def guarded(decode_call, shapes: list[tuple[int, ...]], name: str) -> list[Reconstruction]:
    """Run ``decode_call() -> list[Reconstruction]`` under the one never-raise policy:

    * a user-fixable error (:class:`~semlink.errors.ConfigError`: a missing checkpoint, an
      uninstalled package) is raised — it is not an outcome of the channel;
    * a malformed stream (:class:`~semlink.errors.StreamError`) -> plain concealment;
    * anything else, or output of the wrong shape / dtype / count -> plain concealment with the
      reason, or :class:`DecodeError` under :func:`strict_decoding`.
    """
    try:
        recs = list(decode_call())
        if len(recs) != len(shapes):
            raise ValueError(f"decoder returned {len(recs)} reconstructions for {len(shapes)} items")
        for rec, shape in zip(recs, shapes):
            check_reconstruction(rec, shape)
        return recs
    except (ConfigError, DecodeError):  # (a nested guard's strict failure passes through unchanged)
        raise
    except StreamError as exc:
        return [conceal(s, f"stream unusable: {exc}") for s in shapes]
    except Exception as exc:  # noqa: BLE001 - a decoder must never take a sweep down
        if _STRICT.get():
            raise DecodeError(f"{name}: {type(exc).__name__}: {exc}") from exc
        return [conceal(s, f"decode failed: {type(exc).__name__}: {exc}") for s in shapes]


def _accept_encoded(decode):
    @functools.wraps(decode)
    def wrapper(self, received, *args, **kwargs):
        rx = as_received(received, getattr(self, "wants_llr", False))
        return guarded(lambda: [decode(self, rx, *args, **kwargs)], [tuple(rx.shape)], self.name or type(self).__name__)[0]

    wrapper._accepts_encoded = True
    return wrapper


# ---------------------------------------------------------------------------------- set codecs
@dataclass(frozen=True)
class EncodedSet:
    """A jointly coded set of images: shared parts (sent once per set) + one :class:`Encoded` per image.

    Attributes:
        codec: registry name of the codec.
        shared: part name -> bytes, sent once for the whole set (e.g. semantic bases, usage).
        items: per-image Encoded, in the order of the set; their part names differ from the
            shared ones.
        info: encoder-side facts for results (never seen by the decoder).
    """

    codec: str
    shared: dict[str, bytes]
    items: tuple[Encoded, ...]
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "items", tuple(self.items))
        if not self.items:
            raise ValueError("an EncodedSet needs at least one item")
        for i, e in enumerate(self.items):
            clash = sorted(set(e.parts) & set(self.shared))
            if clash:
                raise ValueError(f"item {i}: part name(s) {clash} are also shared part names")

    @property
    def shared_bits(self) -> int:
        """Bits of the shared parts (sent once for the whole set)."""
        return 8 * sum(len(b) for b in self.shared.values())

    @property
    def num_bits(self) -> int:
        """Every transmitted bit of the set: shared parts once + every image's parts."""
        return self.shared_bits + sum(e.num_bits for e in self.items)

    def received(self, with_llr: bool = False) -> "ReceivedSet":
        """The :class:`ReceivedSet` of an error-free channel."""
        return ReceivedSet(self.codec, {k: ReceivedPart.intact(v, with_llr) for k, v in self.shared.items()},
                           tuple(e.received(with_llr) for e in self.items))


@dataclass(frozen=True)
class ReceivedSet:
    """A set after the link: the shared parts (once) and one :class:`Received` per image."""

    codec: str
    shared: dict[str, ReceivedPart]
    items: tuple[Received, ...]

    @property
    def shared_parts(self) -> dict[str, bytes]:
        """Shared part name -> received bytes."""
        return {k: p.data for k, p in self.shared.items()}

    @property
    def shared_ok(self) -> bool:
        return all(p.ok for p in self.shared.values())


class SetCodec(Codec):
    """A codec that codes a *set* of images jointly (``codes_sets = True``).

    Implement :meth:`encode_set` and :meth:`decode_set`, and list the shared part names in
    ``shared_part_names`` (and the per-image ones in :meth:`part_names` after them). A single
    image is coded as a set of one: :meth:`encode` / :meth:`decode` do that, with the shared
    parts merged into the image's parts.
    """

    codes_sets = True
    #: names of the parts sent once per set.
    shared_part_names: tuple[str, ...] = ()

    @abc.abstractmethod
    def encode_set(self, items: Sequence[np.ndarray], **rate: Any) -> EncodedSet:
        """Code images (uint8 [H, W, 3] each; sizes may differ) jointly."""

    @abc.abstractmethod
    def decode_set(self, received: ReceivedSet) -> list[Reconstruction]:
        """One Reconstruction per image, in order; never raises on corrupted parts."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "decode_set" in cls.__dict__ and not getattr(cls.__dict__["decode_set"], "_accepts_encoded", False):
            inner = cls.__dict__["decode_set"]

            @functools.wraps(inner)
            def decode_set(self, received, *args, **kwargs):
                if isinstance(received, EncodedSet):
                    received = received.received(self.wants_llr)
                shapes = [tuple(r.shape) for r in received.items]
                return guarded(lambda: inner(self, received, *args, **kwargs), shapes, self.name or type(self).__name__)

            decode_set._accepts_encoded = True
            cls.decode_set = decode_set

    def encode(self, item: np.ndarray, **rate: Any) -> Encoded:
        es = self.encode_set([item], **rate)
        e = es.items[0]
        return Encoded(self.name, e.kind, e.shape, {**es.shared, **e.parts}, {**es.info, **e.info})

    def decode(self, received: Received) -> Reconstruction:
        shared = {k: p for k, p in received.packets.items() if k in self.shared_part_names}
        own = Received(received.codec, received.kind, received.shape,
                       {k: p for k, p in received.packets.items() if k not in self.shared_part_names})
        return self.decode_set(ReceivedSet(received.codec, shared, (own,)))[0]
