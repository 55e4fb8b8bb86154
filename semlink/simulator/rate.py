"""Rate policies: how a codec's rate is chosen for one transmission.

* :class:`FixedRate` — one rate point as given (``bpp = 0.3``, ``quality = 2``, any rate keyword
  the codec declares).
* :class:`BestOfPoints` — the largest of the codec's points whose parts fit the link's
  :class:`~semlink.phy.transport.Budget` (else the smallest: over a hard budget it is not sent,
  over the ideal link's capacity it is sent and lost).
* :class:`FitBudget` — a continuous target (``bpp`` for images, ``bcr`` for clips), started at
  the budget's payload bits and shrunk in proportion until every part fits (at most 12 tries).

:func:`rate_policies` picks them for a (codec, link) pair: a budget with a continuous target
(and not a set codec) -> FitBudget; a budget -> BestOfPoints; no budget -> one FixedRate per
listed value. Every policy has a ``target_label`` (part of the row key: ``"bpp=0.3"``,
``"auto"`` over the ideal link, ``"cbr"`` for a PHY budget) and :meth:`choose` returns the
encoding, the seconds spent encoding now, the rate actually used (``"bpp=0.2613"``) and whether
it fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from semlink.codecs import ChannelState, Encoded, EncodedSet
from semlink.phy.transport import Budget, OutgoingPart

Coded = Encoded | EncodedSet
#: ``encode(rate_kwargs, channel_state) -> (Encoded | EncodedSet, seconds spent encoding now)``
EncodeFn = Callable[[dict, "ChannelState | None"], "tuple[Coded, float]"]


def outgoing_parts(coded: Coded) -> list[OutgoingPart]:
    """The parts of one transmission in send order: a set's shared parts (sorted names), then
    every item's own parts (sorted names)."""
    if isinstance(coded, EncodedSet):
        out = [OutgoingPart(None, k, coded.shared[k]) for k in sorted(coded.shared)]
        items = coded.items
    else:
        out, items = [], (coded,)
    for i, e in enumerate(items):
        out += [OutgoingPart(i, k, e.parts[k]) for k in sorted(e.parts)]
    return out


@dataclass(frozen=True)
class RateOutcome:
    """What a policy chose: the encoding, seconds spent encoding now, the rate used, whether it fits."""

    coded: Coded
    encode_s: float
    label: str
    fits: bool = True


class RatePolicy(Protocol):
    target_label: str

    def choose(self, encode: EncodeFn, state: ChannelState | None, budget: Budget | None,
               items: Sequence[tuple[str, np.ndarray]]) -> RateOutcome: ...


def _fmt(key: str, value: Any) -> str:
    return f"{key}={value:g}" if isinstance(value, (int, float)) else f"{key}={value}"


@dataclass(frozen=True)
class FixedRate:
    """One rate point: ``key=value`` (no key: the codec's default)."""

    key: str | None = None
    value: Any = None

    @property
    def target_label(self) -> str:
        return _fmt(self.key, self.value) if self.key else "default="

    def kwargs(self) -> dict:
        return {self.key: self.value} if self.key else {}

    def choose(self, encode, state, budget, items) -> RateOutcome:
        coded, s = encode(self.kwargs(), state)
        return RateOutcome(coded, s, self.target_label, True)


@dataclass(frozen=True)
class BestOfPoints:
    """The largest of ``values`` (rate keyword ``key``) whose parts fit the budget."""

    key: str
    values: tuple
    target_label: str = "auto"

    def choose(self, encode, state, budget, items) -> RateOutcome:
        if budget is None:
            raise ValueError(f"best of {self.key} points needs a link with a budget")
        tried, spent = [], 0.0
        for v in self.values:
            coded, s = encode({self.key: v}, state)
            spent += s
            parts = outgoing_parts(coded)
            tried.append((budget.cost(parts), budget.fits(parts), v, coded))
        fitting = [t for t in tried if t[1]]
        _, _, v, coded = max(fitting, key=lambda t: t[0]) if fitting else min(tried, key=lambda t: t[0])
        # over a hard budget nothing is sent ("key>budget"); over capacity the smallest point is sent and lost
        refused = budget.hard or bool(budget.item_limits)
        label = _fmt(self.key, v) if fitting or not refused else f"{self.key}>budget"
        return RateOutcome(coded, spent, label, bool(fitting))


@dataclass(frozen=True)
class FitBudget:
    """A continuous rate target (``key`` "bpp" or "bcr") fitted to a hard budget."""

    key: str
    tries: int = 12
    shrink: float = 0.98
    target_label: str = "cbr"

    def choose(self, encode, state, budget, items) -> RateOutcome:
        if budget is None or "bits_budget" not in budget.facts:
            raise ValueError(f"fitting {self.key} needs a PHY link with a budget (link.cbr)")
        x = items[0][1]
        per_unit = (3 * x.shape[1] * x.shape[2] * 8 * x.shape[0]) if self.key == "bcr" else \
            sum(int(np.prod(v.shape[:2])) for _, v in items)
        target, spent, best = budget.facts["bits_budget"] / per_unit, 0.0, None
        for _ in range(self.tries):
            if target <= 0:
                break
            coded, s = encode({self.key: target}, state)
            spent += s
            parts = outgoing_parts(coded)
            if budget.fits(parts):
                best = (coded, target)
                break
            if best is None or budget.load(parts) < budget.load(outgoing_parts(best[0])):
                best = (coded, None)  # smallest so far (not fitting)
            if budget.item_limits:
                target *= self.shrink / budget.load(parts)
            else:  # (the pooled rule's arithmetic, kept exactly: the committed budget rows depend on it)
                target *= self.shrink * budget.limit / budget.cost(parts)
        coded, fitted = best
        label = f"{self.key}={fitted:.4g}" if fitted is not None else f"{self.key}>budget"
        return RateOutcome(coded, spent, label, fitted is not None)
