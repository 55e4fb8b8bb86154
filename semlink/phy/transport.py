"""One protocol for every link a coded item can cross: named parts in, received parts and counters out.

A :class:`Transport` sends the parts of one transmission (one item, or one image set: its shared
parts, then every image's own parts) at one SNR with one channel realisation:

* :class:`PhyTransport` — the explicit digital link (:class:`semlink.phy.link.Link`): each part
  in its own CRC-32 packets; with unequal error protection a part crosses the link of its
  protection class (``by_part``); with a channel-use budget (``cbr``) the transmitter refuses
  parts that do not fit (an outage decided before the channel).
* :class:`IdealTransport` — the capacity-achieving link (:class:`semlink.phy.ideal.IdealLink`):
  the whole transmission is delivered error-free or lost as one.

Both expose the same three calls: :meth:`~Transport.send` (``parts -> TransportResult``),
:meth:`~Transport.budget` (the channel uses a transmission may take, in the unit the link
counts: data resource elements or bits; None when unlimited) and
:meth:`~Transport.channel_state` (what a channel-adaptive encoder is told). The simulator's row
function (:mod:`semlink.simulator.row`) is written against this protocol only, and the rate
policies (:mod:`semlink.simulator.rate`) fit codecs to :class:`Budget`.

Randomness: every draw comes from the caller's generator, in send order (one per part on the
PHY link; one per transmission under Rayleigh fading on the ideal link).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from semlink.phy.ideal import IdealLink, capacity_awgn
from semlink.phy.link import Link, LinkCounters
from semlink.phy.received import ReceivedPart
from semlink.phy.state import ChannelState


@dataclass(frozen=True)
class OutgoingPart:
    """One part to send: ``owner`` None = shared by a set, ``i`` = item i; ``name``; bytes."""

    owner: int | None
    name: str
    data: bytes


@dataclass(frozen=True)
class SentPart:
    """A part after the link: what arrived and what it cost (packets, errors, resource elements)."""

    part: OutgoingPart
    received: ReceivedPart
    counters: LinkCounters


@dataclass(frozen=True)
class TransportResult:
    """The outcome of one transmission.

    Attributes:
        parts: every part, in send order.
        outage: nothing usable arrived by the link's rule (ideal: rate above capacity; PHY: not
            sent, over the budget or no usable MCS).
        reason: why, when ``outage``.
        capacity: bits per channel use the ideal link offered (nan on the PHY link).
    """

    parts: tuple[SentPart, ...]
    outage: bool = False
    reason: str = ""
    capacity: float = math.nan

    def received(self, owner: int | None) -> dict[str, ReceivedPart]:
        """Part name -> received part, of one owner (None: the shared parts)."""
        return {p.part.name: p.received for p in self.parts if p.part.owner == owner}


@dataclass(frozen=True)
class Budget:
    """The channel uses one transmission may take.

    Attributes:
        unit: ``"data_symbols"`` (PHY: data resource elements) or ``"bits"`` (ideal: bits the
            capacity carries).
        limit: the budget in ``unit``.
        cost: parts -> what they take, in ``unit`` (at each part's own link settings).
        hard: True: parts over the limit are not sent (PHY); False: they are sent and the link
            decides (ideal: delivered iff within capacity).
        facts: row columns describing the budget (e.g. ``bits_budget``, ``data_symbols_budget``).
        item_limits: the ``"item"`` budget rule for a set of several items: item i's own budget
            (its share of the channel uses); a set fits only when every item's own parts plus an
            equal share of the set's shared parts fit its budget, and a set that does not fit at
            its lowest rate is not sent. Empty: the pooled rule (the set's parts against ``limit``).
    """

    unit: str
    limit: float
    cost: Callable[[Sequence[OutgoingPart]], float]
    hard: bool
    facts: dict = field(default_factory=dict)
    item_limits: tuple[float, ...] = ()

    def load(self, parts: Sequence[OutgoingPart]) -> float:
        """How full the budget is: cost / limit (item rule: the fullest item's, shared parts apportioned)."""
        if not self.item_limits:
            return self.cost(parts) / self.limit if self.limit > 0 else float("inf")
        share = self.cost([p for p in parts if p.owner is None]) / len(self.item_limits)
        return max((self.cost([p for p in parts if p.owner == i]) + share) / lim if lim > 0 else float("inf")
                   for i, lim in enumerate(self.item_limits))

    def fits(self, parts: Sequence[OutgoingPart]) -> bool:
        return self.load(parts) <= 1.0


class Transport(Protocol):
    """The link protocol (see the module docstring)."""

    kind: str
    #: why nothing can be sent at all ("" = usable); ``send`` then reports an outage with it
    unavailable: str

    def send(self, parts: Sequence[OutgoingPart], *, snr_db: float, rng: np.random.Generator, source_symbols: int,
             want_llr: bool = False) -> TransportResult: ...

    def budget(self, snr_db: float, source_symbols: int, item_symbols: Sequence[int] = ()) -> Budget | None: ...

    def channel_state(self, snr_db: float, source_symbols: int) -> ChannelState: ...


#: ``"item"``: each item of a set has its own budget (a set codec's shared parts apportioned equally);
#: ``"set"``: a set's items share the set's channel uses (pooled)
BUDGET_RULES = ("item", "set")


def _check_rule(rule: str) -> str:
    if rule not in BUDGET_RULES:
        from semlink.errors import ConfigError

        raise ConfigError(f"budget={rule!r} is not a budget rule", allowed=BUDGET_RULES)
    return rule


def not_sent(parts: Sequence[OutgoingPart], want_llr: bool, reason: str) -> TransportResult:
    """Every part lost without using the channel (an outage decided at the transmitter)."""
    out = tuple(SentPart(p, ReceivedPart.lost(len(p.data), want_llr),
                         LinkCounters(packets=1 if p.data else 0, packets_lost=1 if p.data else 0)) for p in parts)
    return TransportResult(out, outage=True, reason=reason)


class PhyTransport:
    """The explicit digital link, with per-part links for protected parts and an optional budget.

    Args:
        default: the link every part crosses unless protected.
        by_part: part name -> the link of its protection class (``[link.protect]``).
        protect: part name -> the settings that differ (for the results table).
        cbr: budget in data resource elements per source symbol (None: unlimited).
        unavailable: why nothing can be sent at all (e.g. no MCS meets the BLER target); "" = usable.
    """

    kind = "phy"

    def __init__(self, default: Link, by_part: dict[str, Link] | None = None, protect: dict[str, dict] | None = None,
                 cbr: float | None = None, unavailable: str = "", budget_rule: str = "item") -> None:
        self.default = default
        self.by_part = dict(by_part or {})
        self.protect = dict(protect or {})
        self.cbr = cbr
        self.unavailable = unavailable
        self.budget_rule = _check_rule(budget_rule)

    def with_unavailable(self, reason: str) -> "PhyTransport":
        """The same links, marked unusable (every transmission is an outage with ``reason``)."""
        return PhyTransport(self.default, self.by_part, self.protect, self.cbr, reason, self.budget_rule)

    def link_for(self, name: str) -> Link:
        return self.by_part.get(name, self.default)

    def data_symbols(self, parts: Sequence[OutgoingPart]) -> int:
        """Data resource elements the parts occupy, each at its own link's settings."""
        from semlink.phy.budget import payload_data_symbols

        return sum(payload_data_symbols(self.link_for(p.name).config, len(p.data)) for p in parts)

    def send(self, parts: Sequence[OutgoingPart], *, snr_db: float, rng: np.random.Generator, source_symbols: int,
             want_llr: bool = False) -> TransportResult:
        if self.unavailable:
            return not_sent(parts, want_llr, self.unavailable)
        out = []
        for p in parts:
            r = self.link_for(p.name).transmit(p.data, snr_db, rng, return_llr=want_llr)
            c = LinkCounters()
            c.add(r)
            out.append(SentPart(p, ReceivedPart(r.payload, r.packet_ok, r.packet_starts, r.packet_lengths, r.llr), c))
        return TransportResult(tuple(out))

    def budget(self, snr_db: float, source_symbols: int, item_symbols: Sequence[int] = ()) -> Budget | None:
        if self.cbr is None:
            return None
        from semlink.phy.budget import max_payload_bytes

        symbols = math.floor(self.cbr * source_symbols)
        bits = 8 * max_payload_bytes(self.default.config, symbols)
        items = (tuple(math.floor(self.cbr * n) for n in item_symbols)
                 if self.budget_rule == "item" and len(item_symbols) > 1 else ())
        return Budget("data_symbols", symbols, self.data_symbols, hard=True,
                      facts={"bits_budget": bits, "data_symbols_budget": symbols, "cbr_target": self.cbr,
                             "budget_rule": self.budget_rule}, item_limits=items)

    def channel_state(self, snr_db: float, source_symbols: int) -> ChannelState:
        c = self.default.config
        uses = math.floor(self.cbr * source_symbols) if self.cbr is not None else None
        return ChannelState(snr_db, "phy", c.channel, c.modulation, self.default.code.code_rate, c.bits_per_symbol,
                            self.cbr, uses)


class IdealTransport:
    """The capacity-achieving link: the transmission is delivered whole or lost whole.

    Channel uses are apportioned to the parts in proportion to their bits (a row's ``cbr``).
    """

    kind = "ideal"
    protect: dict = {}
    unavailable = ""

    def __init__(self, link: IdealLink, budget_rule: str = "item") -> None:
        self.link = link
        self.budget_rule = _check_rule(budget_rule)

    def send(self, parts: Sequence[OutgoingPart], *, snr_db: float, rng: np.random.Generator, source_symbols: int,
             want_llr: bool = False) -> TransportResult:
        payload_bits = 8 * sum(len(p.data) for p in parts)
        r = self.link.transmit(bytes(payload_bits // 8), snr_db, rng, source_symbols)  # only the length matters
        total = max(payload_bits, 1)
        out = []
        for p in parts:
            c = LinkCounters(packets=1 if p.data else 0,  # no bit-level model: the BER columns stay nan
                             packets_lost=0 if (r.delivered or not p.data) else 1)
            c.data_symbols = c.total_symbols = r.channel_uses * 8 * len(p.data) / total
            rx = ReceivedPart.intact(p.data, want_llr) if r.delivered else ReceivedPart.lost(len(p.data), want_llr)
            out.append(SentPart(p, rx, c))
        return TransportResult(tuple(out), outage=not r.delivered,
                               reason="" if r.delivered else "outage: rate above capacity", capacity=r.capacity)

    def budget(self, snr_db: float, source_symbols: int, item_symbols: Sequence[int] = ()) -> Budget:
        # the transmitter knows the mean SNR: what the AWGN capacity carries in the granted uses
        cap = capacity_awgn(snr_db)
        bits = self.link.channel_uses(source_symbols) * cap
        items = (tuple(self.link.channel_uses(n) * cap for n in item_symbols)
                 if self.budget_rule == "item" and len(item_symbols) > 1 else ())
        return Budget("bits", bits, lambda parts: 8 * sum(len(p.data) for p in parts), hard=False,
                      facts={"budget_rule": self.budget_rule}, item_limits=items)

    def channel_state(self, snr_db: float, source_symbols: int) -> ChannelState:
        return ChannelState(snr_db, "ideal", self.link.fading, cbr=self.link.cbr,
                            channel_uses=self.link.channel_uses(source_symbols))
