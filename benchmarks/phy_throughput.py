"""Full-chain PHY throughput: the fast default path vs the all-Sionna reference path.

Chain (both paths, identical inputs): payload bytes -> CRC packets -> LDPC(648, 3/4) ->
16-QAM -> 802.11-like OFDM -> TDL-C (100 ns, static) -> LS estimation (linear interpolation)
-> LMMSE equalization -> app demapping -> BP decoding (20 iterations max) -> CRC -> bytes.

* fast path: semlink's defaults (numba LDPC decoder, single-antenna equalizer/demapper);
* reference: Sionna's LDPCBPDecoder, LMMSEEqualizer and Demapper ("app").

Both paths see the same payload and the same channel and noise realisations (the link seeds
Sionna from the rng), so their BER/BLER differ only through the receivers. Prints figures; it
passes or fails nothing. The last line is:

    full-chain info throughput: <X> Mbit/s; sionna reference: <Y> Mbit/s; ratio: <R>

Usage: python benchmarks/phy_throughput.py [--snr-db 22] [--ref-bytes 60000] [--fast-bytes 2000000]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def run(link, payload: bytes, snr: float, seed: int):
    link.timer.enabled = True
    link.timer.seconds.clear()
    t0 = time.perf_counter()
    r = link.transmit(payload, snr, np.random.default_rng(seed))
    dt = time.perf_counter() - t0
    return r, dt, dict(link.timer.seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snr-db", type=float, default=22.0, help="Es/N0 per resource element [dB]")
    ap.add_argument("--ref-bytes", type=int, default=60_000, help="payload of the identical-input comparison")
    ap.add_argument("--fast-bytes", type=int, default=2_000_000, help="payload of the fast path's throughput run")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    import torch

    from semlink.phy import Link, LinkConfig
    from semlink.phy import ldpc_fast
    from semlink.phy.ldpc import LDPCCode

    print(f"machine: {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}")
    common = dict(code="80211n-648-3/4", modulation="16qam", channel="tdl-c", estimator="ls",
                  interpolation="lin", equalizer="lmmse", demapping="app", num_iter=20)
    fast = Link(LinkConfig(backend="fast", decoder="fast", **common))
    ref = Link(LinkConfig(backend="sionna", decoder="sionna", **common))
    ldpc_fast.warmup()
    rng = np.random.default_rng(0)
    warm = rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    fast.transmit(warm, args.snr_db, np.random.default_rng(0))
    ref.transmit(warm[:5000], args.snr_db, np.random.default_rng(0))

    same = rng.integers(0, 256, args.ref_bytes, dtype=np.uint8).tobytes()
    rf, tf_same, _ = run(fast, same, args.snr_db, args.seed)
    rr, tr, stages_ref = run(ref, same, args.snr_db, args.seed)
    big = rng.integers(0, 256, args.fast_bytes, dtype=np.uint8).tobytes()
    rb, tb, stages_fast = run(fast, big, args.snr_db, args.seed + 1)

    x = 8 * len(big) / tb / 1e6
    y = 8 * len(same) / tr / 1e6
    print(f"\nSNR {args.snr_db:g} dB, 16-QAM, LDPC 648 r3/4, TDL-C, LS + LMMSE, app demapping, 20 BP iterations")
    print(f"identical inputs ({len(same)} bytes, {rf.codewords} codewords):")
    for name, r, t in (("fast", rf, tf_same), ("sionna", rr, tr)):
        lo, hi = wilson(r.bit_errors, r.payload_bits)
        blo, bhi = wilson(r.codeword_errors, r.codewords)
        print(f"  {name:7s} BER {r.ber:.3e} [95% CI {lo:.2e}, {hi:.2e}]  BLER {r.bler:.3e} [{blo:.2e}, {bhi:.2e}]"
              f"  raw BER {r.raw_ber:.3e}  {t:7.2f} s")
    overlap = not (wilson(rf.bit_errors, rf.payload_bits)[1] < wilson(rr.bit_errors, rr.payload_bits)[0]
                   or wilson(rr.bit_errors, rr.payload_bits)[1] < wilson(rf.bit_errors, rf.payload_bits)[0])
    print(f"  BER confidence intervals overlap: {overlap}")
    print(f"fast path on {len(big)} bytes: BER {rb.ber:.3e}  BLER {rb.bler:.3e}  {tb:.2f} s")

    for title, stages, total in (("fast path", stages_fast, tb), ("sionna reference", stages_ref, tr)):
        print(f"\ntime breakdown, {title} (total {total:.2f} s):")
        for k, v in sorted(stages.items(), key=lambda kv: -kv[1]):
            print(f"  {k:26s} {v:8.3f} s  {100 * v / total:5.1f} %")
        other = total - sum(stages.values())
        print(f"  {'(other: python glue)':26s} {other:8.3f} s  {100 * other / total:5.1f} %")

    # decoder alone, BPSK/AWGN LLRs in the waterfall region
    code = LDPCCode(decoder="fast")
    n_cw = 8192
    u = rng.integers(0, 2, (n_cw, code.k), dtype=np.uint8)
    c = code.encode(u)
    sigma = 0.55  # BPSK noise std: Eb/N0 ~3.5 dB at r3/4, the waterfall (BLER ~1e-2)
    llr = (2 * (2.0 * c - 1) / sigma**2 + 2 * rng.normal(0, 1, c.shape) / sigma).astype(np.float32)
    td = math.inf
    for _ in range(3):  # best of 3 (timeit's rule: the other runs measure the machine's noise)
        t0 = time.perf_counter()
        d = code.decode(llr)
        td = min(td, time.perf_counter() - t0)
    t0 = time.perf_counter()
    code.decode(llr[:256], decoder="sionna")
    ts = (time.perf_counter() - t0) * n_cw / 256
    print(f"\ndecoder alone, best of 3 ({n_cw} codewords, BLER {(d != u).any(1).mean():.2e}): fast {n_cw * 648 / td / 1e6:.1f} "
          f"coded Mbit/s; sionna LDPCBPDecoder {n_cw * 648 / ts / 1e6:.2f} coded Mbit/s")
    print(f"full-chain info throughput: {x:.2f} Mbit/s; sionna reference: {y:.3f} Mbit/s; ratio: {x / y:.0f}")


if __name__ == "__main__":
    main()
