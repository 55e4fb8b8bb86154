"""The row function: items -> codec -> link(s) -> codec -> metrics -> result rows.

One call of :func:`simulate` is one transmission of one coded item, or of one jointly coded
image *set*, at one SNR with one channel realisation (``rng``). Read it top to bottom:

1. **Channel state** (channel-adaptive codecs only): what the transmitter knows (SNR, link
   settings, channel-use budget), handed to ``encode``.
2. **Rate choice and encoding**: a fixed rate point (``phy`` mode), or, over the ideal link,
   the largest candidate rate point whose bits fit ``channel uses x log2(1 + SNR)``.
   Encoding goes through the caller's ``encode`` callback, so the runner can cache encodings.
3. **Transmission**: over the explicit PHY every part crosses the link in its own CRC
   packets, at the link settings of its protection class (:class:`LinkPlan`); a set's shared
   parts cross once, then every image's own parts. Over the ideal link the whole payload of
   the item (or set) is delivered or lost as one.
4. **Decoding** with a last line of defence (a codec that raises gives a concealment).
5. **Metrics and rows**: one row per image (or clip); a set's shared bits, channel uses and
   timings are apportioned equally over its images and also shown in their own columns.

The runner adds the identity of the row (key, labels, seed, provenance) and stores it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from semlink.codecs import ChannelState, Codec, Encoded, EncodedSet, Received, ReceivedPart, ReceivedSet, Reconstruction
from semlink.phy.ideal import capacity_awgn
from semlink.phy.link import LinkCounters

#: Link settings a part may override under unequal error protection (``[link.protect]``).
PROTECT_FIELDS = ("code", "modulation", "codewords_per_packet", "num_iter", "demapping", "decoder")

Coded = Encoded | EncodedSet
#: ``encode(rate_kwargs, channel_state) -> (Encoded | EncodedSet, seconds spent encoding now)``
EncodeFn = Callable[[dict, "ChannelState | None"], "tuple[Coded, float]"]


@dataclass
class LinkPlan:
    """The links of one transmission: the spec's link and, per protected part, its own.

    Attributes:
        mode: ``"phy"`` or ``"ideal"``.
        default: the :class:`~semlink.phy.Link` (or :class:`~semlink.phy.IdealLink`) of every part.
        by_part: part name -> Link with that part's protection settings (phy mode only).
        protect: part name -> the overridden settings (for the results table).
    """

    mode: str
    default: Any
    by_part: dict[str, Any] = field(default_factory=dict)
    protect: dict[str, dict] = field(default_factory=dict)
    #: phy mode: fixed data resource elements per source symbol (the codec then fits the budget)
    cbr: float | None = None
    #: why nothing can be sent at all (e.g. no MCS meets the BLER target), "" = the link is usable
    unavailable: str = ""

    def for_part(self, name: str):
        return self.by_part.get(name, self.default)

    def channel_state(self, snr_db: float, num_source_symbols: int) -> ChannelState:
        """What an adaptive encoder is told about the default link at ``snr_db``."""
        if self.mode == "ideal":
            link = self.default
            return ChannelState(snr_db, "ideal", link.fading, cbr=link.cbr,
                                channel_uses=link.channel_uses(num_source_symbols))
        c = self.default.config
        uses = math.floor(self.cbr * num_source_symbols) if self.cbr is not None else None
        return ChannelState(snr_db, "phy", c.channel, c.modulation, self.default.code.code_rate, c.bits_per_symbol,
                            self.cbr, uses)

    def data_symbols(self, coded) -> int:
        """Data REs the parts of ``coded`` (Encoded or EncodedSet) occupy at their links' settings."""
        from semlink.phy.budget import payload_data_symbols

        parts = dict(coded.shared) if isinstance(coded, EncodedSet) else {}
        items = coded.items if isinstance(coded, EncodedSet) else (coded,)
        total = sum(payload_data_symbols(self.for_part(k).config, len(v)) for k, v in parts.items())
        for e in items:
            total += sum(payload_data_symbols(self.for_part(k).config, len(v)) for k, v in e.parts.items())
        return total


@dataclass(frozen=True)
class RateChoice:
    """A fixed rate point (``fixed={"bpp": 0.3}``), or ideal-mode candidates (``candidates=("quality", (10, 30))``)."""

    fixed: dict | None = None
    candidates: tuple[str, tuple] | None = None


@dataclass
class _Part:
    """One transmitted part: whose it is (None = shared by the set), its counters and symbols."""

    owner: int | None
    name: str
    counters: LinkCounters


def simulate(
    items: Sequence[tuple[str, np.ndarray]],
    codec: Codec,
    links: LinkPlan,
    snr_db: float,
    rng: np.random.Generator,
    *,
    rate: RateChoice,
    encode: EncodeFn,
    metrics: tuple[str, ...] = ("psnr", "ms_ssim"),
    perceptual=None,
) -> list[dict]:
    """Rows of one transmission of ``items`` (one image/clip, or the images of one set).

    Args:
        items: ``(name, uint8 array)`` pairs; more than one only for a set codec.
        codec: the codec (``codec.codes_sets`` codes the items jointly).
        links: the link plan (see :class:`LinkPlan`).
        snr_db: Es/N0 per resource element [dB].
        rng: the row's generator; every random draw of the transmission comes from it.
        rate: the rate point or the ideal-mode candidates.
        encode: ``encode(rate_kwargs, channel_state) -> (coded, seconds)`` (the runner's cache).
        metrics: any of ``"psnr"``, ``"ms_ssim"``, ``"perceptual"``.
        perceptual: a :class:`~semlink.simulator.metrics.PerceptualMetric` or None.

    Returns:
        One dict per item with the measured columns (quality, bits, channel uses, PHY
        statistics, outcome, timings).
    """
    if not items:
        raise ValueError("simulate needs at least one item")
    if len(items) > 1 and not codec.codes_sets:
        raise ValueError(f"codec {codec.name!r} codes one item at a time, got {len(items)} items")
    n_src = [int(np.prod(x.shape)) for _, x in items]  # source symbols: H W 3 (x T)

    # 1. channel state
    state = links.channel_state(snr_db, sum(n_src)) if codec.channel_adaptive else None

    # 2. rate choice and encoding
    fits = True
    budget: dict = {}
    if links.mode == "phy" and links.cbr is not None:
        coded, enc_s, rate_label, budget = _fit_budget(items, codec, links, state, encode, n_src, rate.candidates)
        fits = budget["fits"]
    elif links.mode == "ideal":
        key, values = rate.candidates
        coded_all = [(encode({key: v}, state), v) for v in values]
        enc_s = sum(c[0][1] for c in coded_all)
        capacity_bits = links.default.channel_uses(sum(n_src)) * capacity_awgn(snr_db)
        fitting = [c for c in coded_all if c[0][0].num_bits <= capacity_bits]
        fits = bool(fitting)
        # the transmitter knows the mean SNR only: the largest point that fits it, else the smallest
        (coded, _), value = (max(fitting, key=lambda c: c[0][0].num_bits) if fitting
                             else min(coded_all, key=lambda c: c[0][0].num_bits))
        rate_label = f"{key}={value:g}"
    else:
        coded, enc_s = encode(dict(rate.fixed or {}), state)
        (key, value), = (rate.fixed or {"default": ""}).items()
        rate_label = f"{key}={value:g}" if isinstance(value, (int, float)) else f"{key}={value}"
    enc_set = coded if isinstance(coded, EncodedSet) else None
    per_item = list(enc_set.items) if enc_set is not None else [coded]
    shared = dict(enc_set.shared) if enc_set is not None else {}
    if len(per_item) != len(items):
        raise ValueError(f"codec {codec.name!r} returned {len(per_item)} coded items for {len(items)} images")

    # 3. transmission
    t0 = time.perf_counter()
    if links.mode == "ideal":
        received, sent, outage, capacity = _transmit_ideal(shared, per_item, links.default, snr_db, rng, sum(n_src),
                                                           codec.wants_llr)
    elif not fits or links.unavailable:  # over the CBR budget at the lowest rate, or no usable MCS: nothing sent
        received, sent = _not_sent(shared, per_item, codec.wants_llr)
        outage, capacity = True, math.nan
    else:
        received, sent = _transmit_phy(shared, per_item, links, snr_db, rng, codec.wants_llr)
        outage, capacity = False, math.nan
    link_s = time.perf_counter() - t0

    # 4. decoding
    t1 = time.perf_counter()
    recs = _safe_decode(codec, received, [e.shape for e in per_item], enc_set is not None)
    decode_s = time.perf_counter() - t1

    # 5. metrics and rows
    from semlink.simulator.metrics import bcr, quality_metrics

    n = len(items)
    rows = []
    for i, ((name, x), enc, rec) in enumerate(zip(items, per_item, recs)):
        t2 = time.perf_counter()
        q = quality_metrics(x, rec.data, metrics, perceptual)
        metrics_s = time.perf_counter() - t2
        mine = [p for p in sent if p.owner in (None, i)]
        stats = LinkCounters()
        for p in mine:
            for f in dataclasses.fields(LinkCounters):
                setattr(stats, f.name, getattr(stats, f.name) + getattr(p.counters, f.name))
        share = {p.name: (1.0 / n if p.owner is None else 1.0) for p in mine}
        data_syms = sum(p.counters.data_symbols * share[p.name] for p in mine)
        total_syms = sum(p.counters.total_symbols * share[p.name] for p in mine)
        shared_bits = 8 * sum(len(b) for b in shared.values()) / n
        own_bits = enc.num_bits
        bits = own_bits + shared_bits
        bits_by_part = {**{k: 8 * len(v) / n for k, v in shared.items()}, **enc.bits_per_part()}
        h, w = x.shape[-3], x.shape[-2]
        frames = x.shape[0] if x.ndim == 4 else 1
        if outage:
            why = (links.unavailable or ("outage: over the CBR budget at the lowest rate" if budget
                                         else "outage: rate above capacity"))
            ok, reason = False, why + (f"; {rec.reason}" if rec.reason else "")
        else:
            ok, reason = rec.decoded_ok, rec.reason
        rows.append({
            "item": name, "rate": rate_label, **q,
            "bits": bits if enc_set is not None else own_bits, "shared_bits": shared_bits, "own_bits": own_bits,
            "bits_by_part": bits_by_part,
            "bpp": bits / (h * w * frames),
            "cbr": data_syms / n_src[i], "cbr_total": total_syms / n_src[i],
            "bcr": bcr(bits, x.shape if x.ndim == 4 else (1, *x.shape)),
            "symbols_by_part": {p.name: p.counters.data_symbols * share[p.name] for p in mine},
            "raw_ber": stats.raw_ber, "ber": stats.ber, "bler": stats.bler,
            "packets": stats.packets, "packets_lost": stats.packets_lost,
            "shared_packets_lost": sum(p.counters.packets_lost for p in mine if p.owner is None),
            "decoded_ok": bool(ok), "outage": bool(outage), "reason": reason,
            "on_loss": getattr(codec, "on_loss", ""),
            "recovered": (0.0 if outage else rec.recovered) if rec.recovered is not None or outage else "",
            "capacity": capacity, "fits_capacity": fits,
            "channel_adaptive": bool(codec.channel_adaptive),
            "channel_state": state.as_dict() if state is not None else "",
            "protect": {p: s for p, s in links.protect.items() if p in bits_by_part},
            "set_size": n,
            **({"bits_budget": budget["bits_budget"], "data_symbols_budget": budget["symbols"],
                "cbr_target": links.cbr} if budget else {}),
            "encode_info": {**(enc_set.info if enc_set is not None else {}), **enc.info},
            "encode_s": round(enc_s / n, 4), "link_s": round(link_s / n, 4),
            "decode_s": round(decode_s / n, 4), "metrics_s": round(metrics_s, 4),
            "perceptual_metric": perceptual.name if perceptual is not None and "perceptual" in metrics else "",
            "perceptual_precision": getattr(perceptual, "precision", "") if "perceptual" in metrics else "",
        })
    return rows


def _fit_budget(items, codec, links: LinkPlan, state, encode: EncodeFn, n_src: list[int], candidates=None):
    """Encode at the largest rate whose parts fit ``floor(cbr x source symbols)`` data REs.

    With ``candidates`` (``(key, values)``: a codec's rate points, e.g. a set codec), the largest
    point whose parts fit is sent (else the smallest, as an outage). Otherwise the first target is the budget's payload bits (one part, CRC and padding removed) as
    ``bpp`` (images: bits / (H W)) or ``bcr`` (clips: bits / (3 H W 8 T)); while the parts
    (each packetized on its own, at its protection settings) need more REs than the budget,
    the target shrinks in proportion (at most 12 tries). Returns (coded, seconds, rate label,
    facts for the row)."""
    from semlink.phy.budget import max_payload_bytes

    symbols = math.floor(links.cbr * sum(n_src))
    bits = 8 * max_payload_bytes(links.default.config, symbols)
    if candidates:
        key, values = candidates
        spent, tried = 0.0, []
        for v in values:
            coded, s = encode({key: v}, state)
            spent += s
            tried.append((links.data_symbols(coded), v, coded))
        fitting = [t for t in tried if t[0] <= symbols]
        need, v, coded = max(fitting, key=lambda t: t[0]) if fitting else min(tried, key=lambda t: t[0])
        label = f"{key}={v:g}" if fitting else f"{key}>budget"
        return coded, spent, label, {"bits_budget": bits, "symbols": symbols, "fits": bool(fitting)}
    x = items[0][1]
    key = "bcr" if codec.kind == "video" else "bpp"
    per_unit = (3 * x.shape[1] * x.shape[2] * 8 * x.shape[0]) if key == "bcr" else sum(int(np.prod(v.shape[:2])) for _, v in items)
    target, spent, best = bits / per_unit, 0.0, None
    for _ in range(12):
        if target <= 0:
            break
        coded, s = encode({key: target}, state)
        spent += s
        need = links.data_symbols(coded)
        if need <= symbols:
            best = (coded, target)
            break
        if best is None or need < links.data_symbols(best[0]):
            best = (coded, None)  # smallest so far (not fitting)
        target *= 0.98 * symbols / need
    coded, fitted = best
    label = f"{key}={fitted:.4g}" if fitted is not None else f"{key}>budget"
    return coded, spent, label, {"bits_budget": bits, "symbols": symbols, "fits": fitted is not None}


def _not_sent(shared: dict[str, bytes], per_item: list[Encoded], with_llr: bool):
    """Every part lost without using the channel (an outage decided at the transmitter)."""
    sent: list[_Part] = []

    def part(owner, name, data):
        sent.append(_Part(owner, name, LinkCounters(packets=1 if data else 0, packets_lost=1 if data else 0)))
        return ReceivedPart.lost(len(data), with_llr)

    shared_rx = {k: part(None, k, shared[k]) for k in sorted(shared)}
    items_rx = tuple(Received(e.codec, e.kind, tuple(e.shape), {k: part(i, k, e.parts[k]) for k in sorted(e.parts)})
                     for i, e in enumerate(per_item))
    return (shared_rx, items_rx), sent


# ----------------------------------------------------------------------------- transmission
def _transmit_phy(shared: dict[str, bytes], per_item: list[Encoded], links: LinkPlan, snr_db: float,
                  rng: np.random.Generator, with_llr: bool) -> tuple[Any, list[_Part]]:
    """Every part over its link: the shared parts once, then each item's parts (sorted names)."""
    sent: list[_Part] = []

    def send(owner: int | None, name: str, data: bytes) -> ReceivedPart:
        r = links.for_part(name).transmit(data, snr_db, rng, return_llr=with_llr)
        c = LinkCounters()
        c.add(r)
        sent.append(_Part(owner, name, c))
        return ReceivedPart(r.payload, r.packet_ok, r.packet_starts, r.packet_lengths, r.llr)

    shared_rx = {k: send(None, k, shared[k]) for k in sorted(shared)}
    items_rx = tuple(
        Received(e.codec, e.kind, tuple(e.shape), {k: send(i, k, e.parts[k]) for k in sorted(e.parts)})
        for i, e in enumerate(per_item)
    )
    return (shared_rx, items_rx), sent


def _transmit_ideal(shared: dict[str, bytes], per_item: list[Encoded], link, snr_db: float, rng: np.random.Generator,
                    num_source_symbols: int, with_llr: bool):
    """The whole payload (every part of every item) over the ideal link: delivered or lost as one."""
    payload_bits = 8 * (sum(len(b) for b in shared.values()) + sum(e.num_bytes for e in per_item))
    r = link.transmit(bytes(payload_bits // 8), snr_db, rng, num_source_symbols)  # only the length matters
    make = (lambda b: ReceivedPart.intact(b, with_llr)) if r.delivered else (lambda b: ReceivedPart.lost(len(b), with_llr))
    sent: list[_Part] = []
    total = max(payload_bits, 1)

    def part(owner, name, data):
        c = LinkCounters(packets=1 if data else 0,  # no bit-level model: BER columns stay nan
                         packets_lost=0 if (r.delivered or not data) else 1)
        # channel uses shared in proportion to the bits of each part
        c.data_symbols = c.total_symbols = r.channel_uses * 8 * len(data) / total
        sent.append(_Part(owner, name, c))
        return make(data)

    shared_rx = {k: part(None, k, shared[k]) for k in sorted(shared)}
    items_rx = tuple(
        Received(e.codec, e.kind, tuple(e.shape), {k: part(i, k, e.parts[k]) for k in sorted(e.parts)})
        for i, e in enumerate(per_item)
    )
    return (shared_rx, items_rx), sent, not r.delivered, r.capacity


# ----------------------------------------------------------------------------- decoding
def _safe_decode(codec: Codec, received, shapes: list[tuple[int, ...]], is_set: bool) -> list[Reconstruction]:
    """Decode with a last line of defence: an exception, or an output of the wrong shape or
    dtype, becomes a mid-grey concealment with ``decoded_ok=False`` and the reason, so a codec
    bug is recorded in the row rather than aborting a sweep."""
    shared_rx, items_rx = received
    try:
        if is_set:
            recs = list(codec.decode_set(ReceivedSet(codec.name, shared_rx, items_rx)))
        else:
            recs = [codec.decode(items_rx[0])]
        if len(recs) != len(shapes):
            raise ValueError(f"decoder returned {len(recs)} reconstructions for {len(shapes)} items")
        for rec, shape in zip(recs, shapes):
            if rec.data.shape != tuple(shape) or rec.data.dtype != np.uint8:
                raise ValueError(f"decoder returned {rec.data.dtype} {rec.data.shape}, expected uint8 {tuple(shape)}")
        return recs
    except Exception as e:  # noqa: BLE001 - a codec bug must not kill a sweep
        why = f"decoder raised {type(e).__name__}: {e}"
        return [Reconstruction(np.full(s, 128, np.uint8), False, why) for s in shapes]
