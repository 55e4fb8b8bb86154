"""Decoder-alone coded throughput (Mbit/s of codeword bits) of the 802.11n n = 648 LDPC decoders.

    python benchmarks/ldpc_decoder_throughput.py [--batch 4096] [--rates 3/4 1/2] [--sionna-batch 1024]

BPSK/AWGN LLRs at an Eb/N0 near the waterfall (BER ~1e-4, where early termination helps a
little) and at a high Eb/N0 (where it helps a lot); max 20 iterations. Prints figures only.
Threads: numba uses NUMBA_NUM_THREADS (default: all cores); torch uses torch.get_num_threads().
Besides wall-clock Mbit/s, each line gives Mbit per CPU-second (process CPU time, all threads):
on a machine shared with other jobs the wall figure drops, the per-CPU-second one much less;
N x the per-CPU-second figure is what N uncontended cores give.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from semlink.phy import ldpc_fast
from semlink.phy.ldpc import LDPCCode

SNRS = {"3/4": (3.5, 5.0), "1/2": (2.0, 4.0)}
FAST = [("flooding", "spa"), ("flooding", "phi"), ("layered", "spa"), ("layered", "nms"),
        ("flooding", "nms")]


def llrs(code, ebno, b, rng):
    c = code.encode(rng.integers(0, 2, (b, code.k), dtype=np.uint8))
    sig2 = 1.0 / (2 * code.code_rate * 10 ** (ebno / 10))
    y = (2.0 * c - 1.0) + np.sqrt(sig2) * rng.standard_normal(c.shape)
    return c, (2.0 * y / sig2).astype(np.float32)


def timed(fn, reps):
    """Best wall time over reps, and the process CPU time (all threads) of that repetition."""
    best, cpu = np.inf, np.inf
    out = None
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if dt < best:
            best, cpu = dt, dc
    return best, cpu, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--sionna-batch", type=int, default=1024)
    ap.add_argument("--rates", nargs="+", default=["3/4", "1/2"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-sionna", action="store_true")
    args = ap.parse_args()
    import numba
    import torch

    print(f"numba threads {numba.get_num_threads()}, torch threads {torch.get_num_threads()}")
    t0 = time.perf_counter()
    ldpc_fast.warmup()
    print(f"numba warm-up (compile or cache load): {time.perf_counter() - t0:.2f} s")
    rng = np.random.default_rng(0)
    for rate in args.rates:
        code = LDPCCode(rate=rate)
        for ebno in SNRS[rate]:
            c, llr = llrs(code, ebno, args.batch, rng)
            bits = llr.size
            print(f"\nrate {rate}  Eb/N0 {ebno} dB  batch {args.batch}  (max 20 iterations)")
            for schedule, cn in FAST:
                dt, dc, (out, it, ok) = timed(lambda: ldpc_fast.decode(
                    code.base, code.z, llr, num_iter=20, schedule=schedule, cn=cn, return_info=True), args.reps)
                ber = (out != c).mean()
                print(f"  fast {schedule:8s} {cn:4s}: {bits / dt / 1e6:7.1f} Mbit/s  "
                      f"[{bits / dc / 1e6:6.1f} Mbit/CPU-s]  (mean iters {it.mean():.2f}, BER {ber:.2e})")
                if (schedule, cn) == ("flooding", "spa"):
                    dt0, dc0, _ = timed(lambda: ldpc_fast.decode(
                        code.base, code.z, llr, num_iter=20, early_stop=False), 1)
                    print(f"  fast flooding spa, no early stop: {bits / dt0 / 1e6:7.1f} Mbit/s  "
                          f"[{bits / dc0 / 1e6:6.1f} Mbit/CPU-s]")
            if not args.no_sionna:
                nb = min(args.sionna_batch, args.batch)
                dt, _, ref = timed(lambda: code.decode_codeword(llr[:nb], decoder="sionna", num_iter=20), 1)
                print(f"  sionna LDPCBPDecoder   : {nb * code.n / dt / 1e6:7.1f} Mbit/s  "
                      f"(batch {nb}, BER {(ref != c[:nb]).mean():.2e})")


if __name__ == "__main__":
    main()
