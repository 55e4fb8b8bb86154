"""Monte Carlo BER/BLER sweeps of a :class:`~semlink.phy.link.Link` (the ``semlink ber`` command).

At each SNR point, random payloads are sent in batches until both ``target_block_errors``
codeword errors and ``target_bit_errors`` payload bit errors have been seen, or ``max_bits``
payload bits have been sent, whichever comes first (the stopping rule of Sionna's ``sim_ber``). With ``early_stop`` the sweep ends after the first SNR
point with no error at all, as every higher SNR would show none either.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from semlink.phy.config import LinkConfig
from semlink.phy.link import Link
from semlink.phy.snr import esno_db_to_ebno_db

COLUMNS = [
    "snr_db", "ebno_db", "ber", "bler", "raw_ber", "bits", "errors", "blocks", "block_errors",
    "raw_bits", "raw_errors", "packets", "packets_lost", "channel", "modulation", "code",
    "estimator", "equalizer", "domain", "decoder", "backend", "seconds",
]


@dataclass
class BerPoint:
    """Counts at one SNR point; rates are derived from them."""

    snr_db: float
    ebno_db: float
    bits: int = 0
    errors: int = 0
    blocks: int = 0
    block_errors: int = 0
    raw_bits: int = 0
    raw_errors: int = 0
    packets: int = 0
    packets_lost: int = 0
    seconds: float = 0.0

    @property
    def ber(self) -> float:
        return self.errors / self.bits if self.bits else math.nan

    @property
    def bler(self) -> float:
        return self.block_errors / self.blocks if self.blocks else math.nan

    @property
    def raw_ber(self) -> float:
        return self.raw_errors / self.raw_bits if self.raw_bits else math.nan


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
        raise ValueError(f"snr-db={text!r}: expected start:stop:step with step > 0 (e.g. 0:20:2) or a comma list") from None


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
        raise ValueError(f"target_block_errors must be >= 1, got {target_block_errors!r}")
    if max_bits < 1:
        raise ValueError(f"max_bits must be >= 1, got {max_bits!r}")
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
        while (pt.block_errors < target_block_errors or pt.errors < target_bit_errors) and pt.bits < max_bits:
            payload = rng.integers(0, 256, batch_bytes, dtype=np.uint8).tobytes()
            r = link.transmit(payload, snr, rng)
            pt.bits += r.payload_bits
            pt.errors += r.bit_errors
            pt.blocks += r.codewords
            pt.block_errors += r.codeword_errors
            pt.raw_bits += r.coded_bits
            pt.raw_errors += r.raw_bit_errors
            pt.packets += r.num_packets
            pt.packets_lost += r.packets_lost
            if bar is not None:
                bar.set_postfix_str(f"{snr:g} dB: BER {pt.ber:.2e} BLER {pt.bler:.2e} ({pt.bits / 1e6:.2f} Mbit)")
        pt.seconds = time.perf_counter() - t0
        points.append(pt)
        if bar is not None:
            bar.update(1)
        if early_stop and pt.errors == 0 and pt.block_errors == 0:
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
        d = asdict(p)
        d.update(ber=p.ber, bler=p.bler, raw_ber=p.raw_ber, channel=config.channel, modulation=config.modulation,
                 code=config.code, estimator=config.estimator, equalizer=config.equalizer, domain=config.domain,
                 decoder=config.decoder if config.code != "none" else "none", backend=config.backend)
        out.append({c: d[c] for c in COLUMNS})
    return out


def write_csv(path: Path, table: list[dict]) -> None:
    """Write rows atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(table)
    tmp.replace(path)


def plot_ber(table: list[dict], config: LinkConfig, path: Path) -> None:
    """Log-scale BER/BLER (and raw BER) vs SNR, with the closed-form uncoded curve where one exists."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semlink.phy import theory

    snr = np.array([r["snr_db"] for r in table], dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
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
    ax.legend()
    ax.set_title(f"{config.channel} ({config.domain}-domain), {config.modulation}, {config.code}\n"
                 f"estimator {config.estimator}, equalizer {config.equalizer}", fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
