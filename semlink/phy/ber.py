"""Monte Carlo BER/BLER sweeps of a :class:`~semlink.phy.link.Link` (the ``semlink ber`` command).

At each SNR point, random payloads are sent in batches until both ``target_block_errors``
codeword errors and ``target_bit_errors`` payload bit errors have been seen, or ``max_bits``
payload bits have been sent, whichever comes first (the stopping rule of Sionna's ``sim_ber``). With ``early_stop`` the sweep ends after the first SNR
point with no error at all, as every higher SNR would show none either.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from semlink.errors import ConfigError
from semlink.phy.config import LinkConfig
from semlink.phy.link import Link, LinkCounters
from semlink.phy.snr import esno_db_to_ebno_db

COLUMNS = [
    "snr_db", "ebno_db", "ber", "bler", "raw_ber", "bits", "errors", "blocks", "block_errors",
    "raw_bits", "raw_errors", "packets", "packets_lost", "channel", "modulation", "code",
    "estimator", "equalizer", "domain", "decoder", "backend", "seconds",
]


@dataclass
class BerPoint:
    """Counts at one SNR point (:class:`LinkCounters`), SNR in dB and the time it took [s]."""

    snr_db: float
    ebno_db: float
    counts: LinkCounters = field(default_factory=LinkCounters)
    seconds: float = 0.0

    @property
    def ber(self) -> float:
        return self.counts.ber

    @property
    def bler(self) -> float:
        return self.counts.bler

    @property
    def raw_ber(self) -> float:
        return self.counts.raw_ber


def parse_snr_list(text: str) -> list[float]:
    """``"0:20:2"`` (start:stop:step, stop included) or ``"0,5,10"`` -> list of dB values."""
    text = str(text).strip()
    try:
        if ":" in text:
            parts = [float(x) for x in text.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                raise ValueError
            start, stop, step = parts
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            return [round(start + i * step, 10) for i in range(n)]
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"snr-db={text!r}: expected start:stop:step with step > 0 (e.g. 0:20:2) or a comma list") from None


def run_ber_sweep(
    config: LinkConfig,
    snr_dbs: Sequence[float],
    *,
    target_block_errors: int = 100,
    target_bit_errors: int = 1000,
    max_bits: int = 2_000_000,
    batch_bytes: int | None = None,
    seed: int = 0,
    early_stop: bool = True,
    progress: bool = True,
) -> list[BerPoint]:
    """Run the sweep; returns one :class:`BerPoint` per simulated SNR."""
    if target_block_errors < 1:
        raise ConfigError(f"target_block_errors must be >= 1, got {target_block_errors!r}")
    if max_bits < 1:
        raise ConfigError(f"max_bits must be >= 1, got {max_bits!r}")
    link = Link(config)
    code_rate = link.code.k / link.code.n
    if batch_bytes is None:  # about one chunk of the link per batch
        batch_bytes = max(64, (config.batch_slots * link.slot_bits * link.code.k // link.code.n) // 8 // 2)
    points: list[BerPoint] = []
    bar = _progress(len(snr_dbs), progress)
    for i, snr in enumerate(snr_dbs):
        rng = np.random.default_rng([seed, i])
        pt = BerPoint(float(snr), float(esno_db_to_ebno_db(snr, link.bps, code_rate)))
        t0 = time.perf_counter()
        c = pt.counts
        while (c.codeword_errors < target_block_errors or c.bit_errors < target_bit_errors) and c.payload_bits < max_bits:
            payload = rng.integers(0, 256, batch_bytes, dtype=np.uint8).tobytes()
            c.add(link.transmit(payload, snr, rng))
            if bar is not None:
                bar.set_postfix_str(f"{snr:g} dB: BER {pt.ber:.2e} BLER {pt.bler:.2e} ({c.payload_bits / 1e6:.2f} Mbit)")
        pt.seconds = time.perf_counter() - t0
        points.append(pt)
        if bar is not None:
            bar.update(1)
        if early_stop and c.bit_errors == 0 and c.codeword_errors == 0:
            break
    if bar is not None:
        bar.close()
    return points


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="snr", dynamic_ncols=True)


def rows(points: Iterable[BerPoint], config: LinkConfig) -> list[dict]:
    """Tidy CSV rows (columns :data:`COLUMNS`)."""
    out = []
    for p in points:
        c = p.counts
        d = dict(snr_db=p.snr_db, ebno_db=p.ebno_db, seconds=p.seconds, bits=c.payload_bits, errors=c.bit_errors,
                 blocks=c.codewords, block_errors=c.codeword_errors, raw_bits=c.coded_bits,
                 raw_errors=c.raw_bit_errors, packets=c.packets, packets_lost=c.packets_lost)
        d.update(ber=p.ber, bler=p.bler, raw_ber=p.raw_ber, channel=config.channel, modulation=config.modulation,
                 code=config.code, estimator=config.estimator, equalizer=config.equalizer, domain=config.domain,
                 decoder=config.decoder if config.code != "none" else "none", backend=config.backend)
        out.append({c: d[c] for c in COLUMNS})
    return out


def plot_ber(table: list[dict], config: LinkConfig, ax=None):
    """Log-scale BER/BLER (and raw BER) vs SNR [dB] of the rows of :func:`rows`, with the
    closed-form uncoded curve where one exists, drawn into ``ax`` (None: a new figure, outside
    pyplot). Returns the Axes."""
    from semlink.phy import theory
    from semlink.results.plots import new_figure

    if ax is None:
        ax = new_figure(figsize=(6.4, 4.6)).subplots()
    snr = np.array([r["snr_db"] for r in table], dtype=float)
    for key, style, label in (("ber", "o-", "BER (post-FEC)"), ("bler", "s-", "BLER"), ("raw_ber", "^--", "raw BER (pre-FEC)")):
        y = np.array([r[key] for r in table], dtype=float)
        y = np.where(y > 0, y, np.nan)
        ax.semilogy(snr, y, style, label=label)
    if snr.size:
        fine = np.linspace(snr.min(), snr.max(), 200)
        th = None
        if config.channel == "awgn" and config.modulation in ("qpsk", "16qam", "64qam"):
            th, name = theory.ber_awgn(config.modulation, fine), "uncoded AWGN theory"
        elif config.channel == "rayleigh" and config.modulation == "qpsk":
            th, name = theory.ber_rayleigh("qpsk", fine), "uncoded Rayleigh theory"
        if th is not None:
            ax.semilogy(fine, th, "k:", label=name)
    ax.set_xlabel("SNR = Es/N0 per resource element [dB]")
    ax.set_ylabel("error rate")
    ax.set_ylim(bottom=1e-6)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{config.channel} ({config.domain}-domain), {config.modulation}, {config.code}\n"
                 f"estimator {config.estimator}, equalizer {config.equalizer}", fontsize=9)
    return ax


def save_ber_plot(table: list[dict], config: LinkConfig, path: Path) -> Path:
    """:func:`plot_ber` written to the PNG ``path`` (folders created). Returns the path."""
    from semlink.results.plots import save

    ax = plot_ber(table, config)
    ax.figure.tight_layout()
    return save(ax.figure, Path(path).with_suffix(""), formats=("png",), dpi=120)[0]
