"""VQ-DeepVSC decoding time of one damaged 16-frame 240x320 clip, and where it goes.

    python benchmarks/vqdeepvsc_decode.py [--threads 1 2] [--repeats 3] [--precision auto|fp32|bf16]

The clip (bikes, 16 frames, 240x320) is coded at BCR 0.023 for AWGN QPSK at 0, 5 and 20 dB
(the adaptive key-frame law: fewer key frames at low SNR) and sent over the experiments' link
(LDPC(648, 3/4), header and masks at rate 1/2, OFDM, LS + LMMSE); the received stream is
decoded ``--repeats`` times per setting (the first call, which loads the models, is not
timed). Prints the median seconds per decode for each interpolator and ``on_loss`` setting,
and the parts: combining + restoring, MSVQ decoding of the key frames, interpolation.
Timings depend on the machine and on what else runs on it; the CPU model is printed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> None:
    import torch

    from semlink.codecs import get_codec
    from semlink.codecs.received import Received
    from semlink.data import get_dataset
    from semlink.phy.linkspec import parse_links
    from semlink.semantic.vqdeepvsc import codec as vq
    from semlink.simulator.rate import outgoing_parts

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--snr", type=float, nargs="+", default=[0.0, 5.0, 20.0])
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"), help="the receiver's (codec option)")
    a = ap.parse_args(argv)

    clip = next(it.data for it in get_dataset("clips", max_frames=16, size=264, crop=(240, 320)) if "bikes" in it.name)
    link = {"mode": "phy", "channel": "awgn", "modulation": "qpsk", "code": "80211n-648-3/4", "estimator": "ls",
            "equalizer": "lmmse", "protect": {"header": {"code": "80211n-648-1/2"}, "p": {"code": "80211n-648-1/2"}}}
    transport, _ = parse_links(link)[0].build()
    receiver = "bf16" if get_codec("vqdeepvsc", precision=a.precision).decode_bf16() else "fp32"
    print(f"CPU: {_cpu()}; torch {torch.__version__}; clip bikes {clip.shape}; receiver {receiver}")
    print(f"{'snr_db':>6} {'M':>3} {'r':>3} {'interp':>7} {'on_loss':>8} {'threads':>7} {'decode_s':>9} "
          f"{'msvq_s':>7} {'interp_s':>8} {'other_s':>7}  kept")

    # stage timers: wrap the two network stages of the decoder
    spent = {"msvq": 0.0, "interp": 0.0}
    orig_seam = vq.seam

    def timed_seam(key_frames, v, interpolate):
        def f(x, y, ts):
            t0 = time.perf_counter()
            out = interpolate(x, y, ts)
            spent["interp"] += time.perf_counter() - t0
            return out
        return orig_seam(key_frames, v, f)

    vq.seam = timed_seam
    try:
        for snr in a.snr:
            state = transport.channel_state(snr, int(np.prod(clip.shape)))
            enc = get_codec("vqdeepvsc").encode(clip, bcr=0.023, channel_state=state)
            sent = transport.send(outgoing_parts(enc), snr_db=snr, rng=np.random.default_rng(0),
                                  source_symbols=int(np.prod(clip.shape)), want_llr=True)
            rx = Received(enc.codec, enc.kind, enc.shape, sent.received(0))
            for interp in ("learned", "dis"):
                for on_loss in ("conceal", "decode"):
                    codec = get_codec("vqdeepvsc", interpolator=interp, on_loss=on_loss, precision=a.precision)
                    models = codec._models()
                    msvq_decode = models.msvq.decode_indices

                    def timed_decode(idx, c, _f=msvq_decode):
                        t0 = time.perf_counter()
                        out = _f(idx, c)
                        spent["msvq"] += time.perf_counter() - t0
                        return out

                    models.msvq.decode_indices = timed_decode
                    try:
                        rec = codec.decode(rx)  # warm-up (model loading)
                        for th in a.threads:
                            torch.set_num_threads(th)
                            totals, parts = [], []
                            for _ in range(a.repeats):
                                spent.update(msvq=0.0, interp=0.0)
                                t0 = time.perf_counter()
                                rec = codec.decode(rx)
                                totals.append(time.perf_counter() - t0)
                                parts.append(dict(spent))
                            i = int(np.argsort(totals)[len(totals) // 2])
                            kept = "all" if "dropped" not in rec.reason else rec.reason.split(" key frames dropped")[0].split("; ")[-1] + " dropped"
                            if "mid-grey" in rec.reason:
                                kept = "none (grey)"
                            print(f"{snr:6.1f} {enc.info['key_frames']:3d} {enc.info['repeats']:3d} {interp:>7} {on_loss:>8} "
                                  f"{th:7d} {statistics.median(totals):9.2f} {parts[i]['msvq']:7.2f} {parts[i]['interp']:8.2f} "
                                  f"{totals[i] - parts[i]['msvq'] - parts[i]['interp']:7.2f}  {kept}", flush=True)
                    finally:
                        models.msvq.decode_indices = msvq_decode
    finally:
        vq.seam = orig_seam


if __name__ == "__main__":
    main()
