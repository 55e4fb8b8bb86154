"""What strict float arithmetic costs the LDPC decoder: strict (shipped) vs a fastmath build.

semlink's numba LDPC kernels are compiled without ``fastmath`` so that decisions are the same
bits on every x86-64 CPU (``tests/test_ldpc_fast.py``). This benchmark builds a second copy of
the very same kernels with ``fastmath=True`` (in a temporary module; the library is untouched)
and times both on identical LLRs near the waterfall, single- and multi-threaded. Prints figures;
passes or fails nothing. The last line is:

    strict: <S> ms, fastmath: <F> ms per 10,000 codewords (<R>x); codewords decided differently: <n>

Usage: python benchmarks/ldpc_determinism.py [--codewords 12000] [--rate 3/4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def fastmath_copy():
    """The decoder module compiled with fastmath=True (a temporary copy of its source)."""
    from semlink.phy import ldpc_fast

    src = Path(ldpc_fast.__file__).read_text()
    strict = '_JIT = dict(cache=True, fastmath=False, nogil=True, error_model="numpy")'
    if strict not in src:
        raise SystemExit("ldpc_fast no longer has the expected _JIT line; update this benchmark")
    folder = Path(tempfile.mkdtemp(prefix="semlink-ldpc-fastmath-"))
    path = folder / "ldpc_fast_fastmath.py"
    path.write_text(src.replace(strict, strict.replace("fastmath=False", "fastmath=True")))
    spec = importlib.util.spec_from_file_location("ldpc_fast_fastmath", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codewords", type=int, default=12000)
    ap.add_argument("--rate", default="3/4", choices=["1/2", "2/3", "3/4", "5/6"])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import numba

    from semlink.phy import ldpc_fast
    from semlink.phy.ldpc import LDPCCode

    code = LDPCCode(rate=args.rate)
    rng = np.random.default_rng(7)
    mu = {"1/2": (3.0, 5.0), "2/3": (4.5, 7.0), "3/4": (5.5, 8.0), "5/6": (6.5, 9.5)}[args.rate]
    rel = rng.uniform(*mu, size=(args.codewords, 1))  # all-zero codewords, a reliability each
    llr = (-rel + np.sqrt(2 * rel) * rng.normal(size=(args.codewords, code.n))).astype(np.float32)
    fast = fastmath_copy()
    results = {}
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        numba.set_num_threads(threads)
        for name, mod in (("strict", ldpc_fast), ("fastmath", fast)):
            out = mod.decode(code.base, code.z, llr)  # compile / warm up
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                out = mod.decode(code.base, code.z, llr)
                times.append(time.perf_counter() - t0)
            ms = 1e3 * float(np.median(times)) * 10_000 / args.codewords
            results[(name, threads)] = (ms, out)
            print(f"{name:8s} {threads} thread(s): {ms:7.1f} ms per 10,000 codewords (median of {args.repeats})")
    t = numba.config.NUMBA_NUM_THREADS
    s, f = results[("strict", t)], results[("fastmath", t)]
    n_diff = int(np.any(s[1] != f[1], axis=1).sum())
    print(f"strict: {s[0]:.1f} ms, fastmath: {f[0]:.1f} ms per 10,000 codewords ({s[0] / f[0]:.2f}x); "
          f"codewords decided differently: {n_diff} of {args.codewords}")


if __name__ == "__main__":
    main()
