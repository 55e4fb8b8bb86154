"""The row function: items -> codec -> link(s) -> codec -> metrics -> result rows.

One call of :func:`simulate` is one transmission of one coded item, or of one jointly coded
image *set*, at one SNR with one channel realisation (``rng``). Read it top to bottom:

1. **Channel state** (channel-adaptive codecs only): what the transmitter knows (SNR, link
   settings, channel-use budget), handed to ``encode``.
2. **Rate choice and encoding** by the rate policy (:mod:`semlink.simulator.rate`): a fixed
   rate point, the largest rate point that fits the link's budget (ideal link: ``channel uses
   x log2(1 + SNR)`` bits; PHY with ``cbr``: data resource elements), or a continuous target
   fitted to the budget. Encoding goes through the caller's ``encode`` callback, so the runner
   can cache encodings.
3. **Transmission** over the transport (:mod:`semlink.phy.transport`): a set's shared parts
   once, then every image's own parts; over the explicit PHY every part in its own CRC packets
   at the settings of its protection class; over the ideal link the whole payload is
   delivered or lost as one.
4. **Decoding** with a last line of defence (a codec that raises gives a concealment).
5. **Metrics and rows**: one row per image (or clip); a set's shared bits, channel uses and
   timings are apportioned equally over its images and also shown in their own columns.

The runner adds the identity of the row (key, labels, seed, provenance) and stores it.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from semlink.codecs import Codec, EncodedSet, Received, ReceivedSet, Reconstruction
from semlink.phy.link import LinkCounters
from semlink.phy.transport import Transport, not_sent

from .rate import EncodeFn, RatePolicy, outgoing_parts


def simulate(
    items: Sequence[tuple[str, np.ndarray]],
    codec: Codec,
    transport: Transport,
    snr_db: float,
    rng: np.random.Generator,
    *,
    rate: RatePolicy,
    encode: EncodeFn,
    metrics: Sequence = (),
    memo=None,
    keep_reconstructions: bool = False,
) -> list[dict]:
    """Rows of one transmission of ``items`` (one image/clip, or the images of one set).

    Args:
        items: ``(name, uint8 array)`` pairs; more than one only for a set codec.
        codec: the codec (``codec.codes_sets`` codes the items jointly).
        transport: the link (:class:`~semlink.phy.transport.Transport`: PHY, protected PHY, ideal).
        snr_db: Es/N0 per resource element [dB].
        rng: the row's generator; every random draw of the transmission comes from it.
        rate: the rate policy (:mod:`semlink.simulator.rate`).
        encode: ``encode(rate_kwargs, channel_state) -> (coded, seconds)`` (the runner's cache).
        metrics: metric objects (:func:`~semlink.simulator.metrics.build_metric`), a column each.
        memo: the worker's memo of computed metrics (:func:`~semlink.simulator.metrics.quality_metrics`).
        keep_reconstructions: also return each decoded image/clip (uint8, the item's shape) under
            the key ``"reconstruction"`` (for figures; a sweep never stores them).

    Returns:
        One dict per item with the measured columns (quality, bits, channel uses, PHY
        statistics, outcome, timings).
    """
    if not items:
        raise ValueError("simulate needs at least one item")
    if len(items) > 1 and not codec.codes_sets:
        raise ValueError(f"codec {codec.name!r} codes one item at a time, got {len(items)} items")
    n_src = [int(np.prod(x.shape)) for _, x in items]  # source symbols: H W 3 (x T)
    source_symbols = sum(n_src)

    # 1. channel state
    state = transport.channel_state(snr_db, source_symbols) if codec.channel_adaptive else None

    # 2. rate choice and encoding
    budget = transport.budget(snr_db, source_symbols, n_src)
    choice = rate.choose(encode, state, budget, items)
    coded = choice.coded
    enc_set = coded if isinstance(coded, EncodedSet) else None
    per_item = list(enc_set.items) if enc_set is not None else [coded]
    shared = dict(enc_set.shared) if enc_set is not None else {}
    if len(per_item) != len(items):
        raise ValueError(f"codec {codec.name!r} returned {len(per_item)} coded items for {len(items)} images")

    # 3. transmission: the shared parts once, then each item's parts
    t0 = time.perf_counter()
    parts = outgoing_parts(coded)
    if budget is not None and (budget.hard or budget.item_limits) and not choice.fits and not transport.unavailable:
        # over the budget at the lowest rate: not sent (an unusable link gives its own reason)
        why = ("outage: an image of the set over its own budget at the lowest rate" if budget.item_limits
               else "outage: over the CBR budget at the lowest rate")
        sent = not_sent(parts, codec.wants_llr, why)
    else:
        sent = transport.send(parts, snr_db=snr_db, rng=rng, source_symbols=source_symbols,
                              want_llr=codec.wants_llr)
    link_s = time.perf_counter() - t0

    # 4. decoding
    t1 = time.perf_counter()
    received = (sent.received(None),
                tuple(Received(e.codec, e.kind, tuple(e.shape), sent.received(i)) for i, e in enumerate(per_item)))
    recs = _safe_decode(codec, received, [e.shape for e in per_item], enc_set is not None)
    decode_s = time.perf_counter() - t1

    # 5. metrics and rows
    from semlink.simulator.metrics import bcr, quality_metrics

    n = len(items)
    perceptual = [m for m in metrics if getattr(m, "perceptual", False)]
    rows = []
    for i, ((name, x), enc, rec) in enumerate(zip(items, per_item, recs)):
        t2 = time.perf_counter()
        q = quality_metrics(x, rec.data, metrics, memo)
        metrics_s = time.perf_counter() - t2
        mine = [p for p in sent.parts if p.part.owner in (None, i)]
        stats = LinkCounters()
        for p in mine:
            stats.merge(p.counters)
        share = {p.part.name: (1.0 / n if p.part.owner is None else 1.0) for p in mine}
        data_syms = sum(p.counters.data_symbols * share[p.part.name] for p in mine)
        total_syms = sum(p.counters.total_symbols * share[p.part.name] for p in mine)
        shared_bits = 8 * sum(len(b) for b in shared.values()) / n
        own_bits = enc.num_bits
        bits = own_bits + shared_bits
        bits_by_part = {**{k: 8 * len(v) / n for k, v in shared.items()}, **enc.bits_per_part()}
        h, w = x.shape[-3], x.shape[-2]
        frames = x.shape[0] if x.ndim == 4 else 1
        if sent.outage:
            ok, reason = False, sent.reason + (f"; {rec.reason}" if rec.reason else "")
        else:
            ok, reason = rec.decoded_ok, rec.reason
        rows.append({
            "item": name, "rate": choice.label, **q,
            "bits": bits if enc_set is not None else own_bits, "shared_bits": shared_bits, "own_bits": own_bits,
            "bits_by_part": bits_by_part,
            "bpp": bits / (h * w * frames),
            "cbr": data_syms / n_src[i], "cbr_total": total_syms / n_src[i],
            "bcr": bcr(bits, x.shape if x.ndim == 4 else (1, *x.shape)),
            "symbols_by_part": {p.part.name: p.counters.data_symbols * share[p.part.name] for p in mine},
            "raw_ber": stats.raw_ber, "ber": stats.ber, "bler": stats.bler,
            "packets": stats.packets, "packets_lost": stats.packets_lost,
            "shared_packets_lost": sum(p.counters.packets_lost for p in mine if p.part.owner is None),
            "decoded_ok": bool(ok), "outage": bool(sent.outage), "reason": reason,
            "on_loss": getattr(codec, "on_loss", ""),
            "recovered": (0.0 if sent.outage else rec.recovered) if rec.recovered is not None or sent.outage else "",
            "capacity": sent.capacity, "fits_capacity": choice.fits,
            "channel_adaptive": bool(codec.channel_adaptive),
            "channel_state": state.as_dict() if state is not None else "",
            "protect": {p: s for p, s in getattr(transport, "protect", {}).items() if p in bits_by_part},
            "set_size": n,
            **({k: budget.facts[k] for k in ("bits_budget", "data_symbols_budget", "cbr_target")} if budget is not None
               and budget.hard else {}),
            **({"budget_rule": budget.facts["budget_rule"], "budget_item": budget.item_limits[i]}
               if budget is not None and budget.item_limits else {}),
            "encode_info": {**(enc_set.info if enc_set is not None else {}), **enc.info},
            "encode_s": round(choice.encode_s / n, 4), "link_s": round(link_s / n, 4),
            "decode_s": round(decode_s / n, 4), "metrics_s": round(metrics_s, 4),
            "perceptual_metric": ",".join(m.name for m in perceptual),
            "perceptual_precision": getattr(perceptual[0], "precision", "") if perceptual else "",
            **({"reconstruction": rec.data} if keep_reconstructions else {}),
        })
    return rows


# ----------------------------------------------------------------------------- decoding
def _safe_decode(codec: Codec, received, shapes: list[tuple[int, ...]], is_set: bool) -> list[Reconstruction]:
    """Decode under the codecs' never-raise policy (:func:`semlink.codecs.base.guarded`): a
    malformed stream or a decoder failure becomes plain concealment with the reason (a codec
    bug is recorded in the row rather than aborting a sweep); a user-fixable error (missing
    checkpoint) is raised."""
    from semlink.codecs.base import guarded

    shared_rx, items_rx = received
    if is_set:
        return guarded(lambda: codec.decode_set(ReceivedSet(codec.name, shared_rx, items_rx)), shapes, codec.name)
    return guarded(lambda: [codec.decode(items_rx[0])], shapes, codec.name)
