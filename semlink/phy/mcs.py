"""Link adaptation: modulation and coding schemes (MCS), their measured BLER tables, the choice.

MCS available (802.11n LDPC, n = 648, the rates whose tables ship): QPSK, 16-QAM, 64-QAM x
rate 1/2, 3/4, named ``"16qam-3/4"``; information bits per data resource element =
bits/symbol x code rate (1.0 .. 4.5).

BLER tables are measured with the project's own link (:class:`semlink.phy.Link`, i.e. the
same channel, estimator, equalizer and grid as the sweep) on random payloads. Rule per (MCS,
SNR) point: codewords are sent in batches until ``max_errors`` codeword errors (the BLER is
then known to about +-20 %) or ``min_blocks = ceil(20 / target)`` codewords (2000 for a 1 %
target: an estimate of 1 % then rests on ~20 errors). Tables are cached in the user cache
(``mcs/KEY.json``), keyed by every link setting except modulation and code, the SNR grid, the
target and the rule; ``semlink mcs-table`` lists or rebuilds them.

Choice at SNR ``s``: among the MCS whose BLER is <= the target at the largest grid SNR <= s
(conservative: BLER falls with SNR) and at every grid SNR above it, the one with the highest
information rate (between equal rates, the one with the lowest threshold, i.e. the most margin);
None (outage) when no MCS qualifies.
"""

from __future__ import annotations

import dataclasses
import json
import math
from fractions import Fraction
import time
from dataclasses import dataclass, field

import numpy as np

from semlink.phy.codes import code_name
from semlink.phy.config import MODULATIONS, LinkConfig

MCS_LIST: tuple[tuple[str, str], ...] = (
    ("qpsk", "1/2"), ("qpsk", "3/4"), ("16qam", "1/2"), ("16qam", "3/4"), ("64qam", "1/2"), ("64qam", "3/4"),
)
TABLE_FORMAT = 1
#: SNR grid [dB] of the BLER tables behind link adaptation (sweeps and `semlink mcs-table`)
ADAPT_SNR_GRID = [float(s) for s in range(-2, 33)]


def mcs_name(modulation: str, rate: str) -> str:
    return f"{modulation}-{rate}"


def info_bits_per_symbol(name: str) -> float:
    """Information bits per data RE of MCS ``name`` (``"16qam-3/4"``: 4 x 3/4 = 3)."""
    mod, rate = name.split("-")
    return MODULATIONS[mod] * float(Fraction(rate))


def mcs_config(config: LinkConfig, name: str) -> LinkConfig:
    """``config`` with the modulation and code of MCS ``name`` (802.11n LDPC, n = 648)."""
    mod, rate = name.split("-")
    return dataclasses.replace(config, modulation=mod, code=code_name("80211n", 648, rate))


@dataclass
class BlerTable:
    """Measured BLER of every MCS on an SNR grid [dB] (Es/N0 per resource element).

    Attributes:
        snr_db: the grid, ascending.
        bler: MCS name -> codeword error rate per grid point.
        blocks / errors: MCS name -> codewords sent / in error per point.
        target: the BLER target the rule sized the measurement for.
        facts: the link settings (minus modulation and code) and the rule.
    """

    snr_db: list[float]
    bler: dict[str, list[float]]
    blocks: dict[str, list[int]]
    errors: dict[str, list[int]]
    target: float
    facts: dict = field(default_factory=dict)

    def threshold_db(self, name: str) -> float | None:
        """Smallest grid SNR from which the MCS meets the target at every higher grid point."""
        ok = [b <= self.target for b in self.bler[name]]
        for i in range(len(ok)):
            if all(ok[i:]):
                return self.snr_db[i]
        return None

    def choose(self, snr_db: float) -> str | None:
        """The MCS for ``snr_db`` (see the module docstring), or None (outage)."""
        best, best_key = None, None
        for name in self.bler:
            thr = self.threshold_db(name)
            if thr is not None and snr_db >= thr:
                key = (info_bits_per_symbol(name), -thr)  # equal rates: the one with the most margin
                if best_key is None or key > best_key:
                    best, best_key = name, key
        return best

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def table_facts(config: LinkConfig, snr_db: list[float], target: float, max_errors: int) -> dict:
    d = dataclasses.asdict(config)
    for k in ("modulation", "code", "device", "batch_slots", "backend"):
        d.pop(k, None)
    return {"what": "mcs-bler-table", "format": TABLE_FORMAT, "link": d, "snr_db": list(map(float, snr_db)),
            "target": float(target), "min_blocks": min_blocks(target), "max_errors": int(max_errors)}


def min_blocks(target: float) -> int:
    return int(math.ceil(20.0 / target))


def measure(config: LinkConfig, snr_db: list[float], target: float = 0.01, max_errors: int = 100,
            seed: int = 0, progress=None) -> BlerTable:
    """Measure the BLER table of every MCS on ``config``'s channel (see the module docstring)."""
    from semlink.phy.budget import code_dims
    from semlink.phy.link import Link

    snrs = sorted(float(s) for s in snr_db)
    need = min_blocks(target)
    bler, blocks, errors = {}, {}, {}
    for mod, rate in MCS_LIST:
        name = mcs_name(mod, rate)
        cfg = mcs_config(config, name)
        link = Link(cfg)
        k, _ = code_dims(cfg)
        per_packet = (k * cfg.codewords_per_packet) // 8 - 4
        rng = np.random.default_rng([seed, MCS_LIST.index((mod, rate))])
        b_l, n_l, e_l = [], [], []
        done_clean = False
        for s in snrs:
            if done_clean:  # BLER falls with SNR: after two error-free points, the rest is error-free too
                b_l.append(0.0), n_l.append(0), e_l.append(0)
                continue
            n = e = 0
            while n < need and e < max_errors:
                batch = max(64, min(need - n, 512))
                payload = rng.integers(0, 256, per_packet * (batch // cfg.codewords_per_packet), dtype=np.uint8).tobytes()
                r = link.transmit(payload, s, rng)
                n += r.codewords
                e += r.codeword_errors
            b_l.append(e / n), n_l.append(n), e_l.append(e)
            done_clean = e == 0 and len(e_l) >= 2 and e_l[-2] == 0
            if progress:
                progress(name, s, e / n)
        bler[name], blocks[name], errors[name] = b_l, n_l, e_l
    return BlerTable(snrs, bler, blocks, errors, float(target), table_facts(config, snrs, target, max_errors))


def cached_table(config: LinkConfig, snr_db: list[float], target: float = 0.01, max_errors: int = 100,
                 rebuild: bool = False, progress=None) -> tuple[BlerTable, bool]:
    """The BLER table from the user cache, measured (and stored) when absent or ``rebuild``;
    returns (table, came from the cache)."""
    from semlink.cache import cache_dir, cache_key

    facts = table_facts(config, snr_db, target, max_errors)
    path = cache_dir() / "mcs" / f"{cache_key(facts)}.json"
    if path.is_file() and not rebuild:
        try:
            d = json.loads(path.read_text())
            return BlerTable(**d), True
        except (ValueError, TypeError):
            pass
    t0 = time.perf_counter()
    table = measure(config, snr_db, target, max_errors, progress=progress)
    table.facts["seconds"] = round(time.perf_counter() - t0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table.to_json(), indent=1))
    tmp.replace(path)
    return table, False


def list_cached() -> list[tuple[str, dict]]:
    """(file name, facts) of every cached table."""
    from semlink.cache import cache_dir

    out = []
    for p in sorted((cache_dir() / "mcs").glob("*.json")):
        try:
            out.append((p.name, json.loads(p.read_text()).get("facts", {})))
        except ValueError:
            continue
    return out
