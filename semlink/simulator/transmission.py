"""One item through codec -> link -> codec -> metrics (the row function of every sweep).

Each part of an :class:`~semlink.codecs.Encoded` crosses the link as its own payload (its own
CRC packets), so a codec learns exactly which packets of which part were lost
(``Encoded.part_ok``) and later work can protect parts unequally. Link statistics are summed
over the parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from semlink.codecs import Codec, Encoded, Reconstruction
from semlink.phy.link import LinkCounters


@dataclass
class LinkStats(LinkCounters):
    """PHY counters summed over the parts of one transmission, plus the ideal link's outcome."""

    outage: bool = False
    capacity: float = math.nan

    def rates(self) -> dict[str, float]:
        return {"raw_ber": self.raw_ber, "ber": self.ber, "bler": self.bler}


def transmit_phy(enc: Encoded, link, snr_db: float, rng: np.random.Generator) -> tuple[Encoded, LinkStats]:
    """Send every part over a :class:`semlink.phy.Link`; returns the received Encoded and stats."""
    stats = LinkStats()
    parts, ok = {}, {}
    for name in sorted(enc.parts):
        r = link.transmit(enc.parts[name], snr_db, rng)
        parts[name], ok[name] = r.payload, r.packet_ok
        stats.add(r)
    return enc.with_received(parts, ok), stats


def transmit_ideal(enc: Encoded, link, snr_db: float, rng: np.random.Generator, num_source_symbols: int) -> tuple[Encoded, LinkStats]:
    """Send the whole Encoded over an :class:`semlink.phy.IdealLink` (all parts or nothing)."""
    payload = b"".join(enc.parts[k] for k in sorted(enc.parts))
    r = link.transmit(payload, snr_db, rng, num_source_symbols)
    stats = LinkStats(payload_bits=8 * len(payload), outage=not r.delivered, capacity=r.capacity,
                      data_symbols=r.channel_uses, total_symbols=r.channel_uses)
    if r.delivered:
        return enc.with_received(enc.parts, {k: np.ones(1, bool) for k in enc.parts}), stats
    lost = {k: b"" for k in enc.parts}
    return enc.with_received(lost, {k: np.zeros(1, bool) for k in enc.parts}), stats


def safe_decode(codec: Codec, received: Encoded) -> Reconstruction:
    """``codec.decode`` with a last line of defence: an exception becomes a mid-grey concealment.

    Codecs must not raise on corrupted input; if one does anyway the row is still recorded,
    with ``decoded_ok=False`` and the exception as reason, rather than aborting a sweep.
    """
    try:
        rec = codec.decode(received)
        if rec.data.shape != tuple(received.shape) or rec.data.dtype != np.uint8:
            raise ValueError(f"decoder returned {rec.data.dtype} {rec.data.shape}, expected uint8 {tuple(received.shape)}")
        return rec
    except Exception as e:  # noqa: BLE001 - a codec bug must not kill a sweep
        return Reconstruction(np.full(received.shape, 128, np.uint8), False, f"decoder raised {type(e).__name__}: {e}")


_METRIC_CACHE: "dict[tuple, dict]" = {}
_METRIC_CACHE_SIZE = 256


def quality_metrics(ref: np.ndarray, rec: np.ndarray, which: tuple[str, ...], perceptual) -> dict[str, Any]:
    """PSNR [dB], MS-SSIM and the perceptual distance (column named after the metric used).

    Results are memoised per (reference, reconstruction) content hash: across an SNR sweep most
    reconstructions are bit-identical (error-free decodes above the cliff, concealments below),
    and the perceptual network is by far the slowest step of a row on a CPU.
    """
    import hashlib

    key = (hashlib.sha1(np.ascontiguousarray(ref)).hexdigest(), hashlib.sha1(np.ascontiguousarray(rec)).hexdigest(),
           which, getattr(perceptual, "name", None))
    if key in _METRIC_CACHE:
        return dict(_METRIC_CACHE[key])
    out = _compute_metrics(ref, rec, which, perceptual)
    if len(_METRIC_CACHE) >= _METRIC_CACHE_SIZE:
        _METRIC_CACHE.pop(next(iter(_METRIC_CACHE)))
    _METRIC_CACHE[key] = dict(out)
    return out


def _compute_metrics(ref: np.ndarray, rec: np.ndarray, which: tuple[str, ...], perceptual) -> dict[str, Any]:
    from semlink.simulator import metrics

    out: dict[str, Any] = {}
    video = ref.ndim == 4
    if "psnr" in which:
        out["psnr"] = float(np.mean(metrics.psnr_per_frame(ref, rec))) if video else metrics.psnr(ref, rec)
    if "ms_ssim" in which:
        out["ms_ssim"] = float(np.mean(metrics.ms_ssim_per_frame(ref, rec))) if video else metrics.ms_ssim(ref, rec)
    if "perceptual" in which and perceptual is not None:
        out[perceptual.name] = perceptual(ref, rec)
    return out
