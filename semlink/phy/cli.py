"""``semlink ber``: Monte Carlo BER/BLER sweep of the digital link, CSV + PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from semlink.phy.channels import list_channels
from semlink.phy.config import BACKENDS, CODES, DECODERS, DEMAPPINGS, DOMAINS, EQUALIZERS, ESTIMATORS, INTERPOLATIONS, MODULATIONS

D = argparse.ArgumentDefaultsHelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ber", formatter_class=D,
        help="Monte Carlo BER/BLER vs SNR of the digital link (CSV + PNG)",
        description="Send random payloads through the link at each SNR until --target-block-errors codeword "
        "errors or --max-bits payload bits, write a CSV and a log-scale plot. SNR is Es/N0 per resource element.",
    )
    p.add_argument("--channel", default="tdl-c", choices=list_channels(), help="channel model")
    p.add_argument("--delay-spread", type=float, default=None, help="TDL RMS delay spread [s] (channel default: 100e-9)")
    p.add_argument("--speed", type=float, default=None, help="TDL terminal speed [m/s] (channel default: 0)")
    p.add_argument("--carrier-frequency", type=float, default=None, help="TDL carrier frequency [Hz] (channel default: 5.25e9)")
    p.add_argument("--domain", default="freq", choices=DOMAINS, help="frequency-domain or time-domain (CP/ISI) channel")
    p.add_argument("--modulation", default="16qam", choices=list(MODULATIONS), help="Gray QAM")
    p.add_argument("--demapping", default="app", choices=DEMAPPINGS, help="soft demapping")
    p.add_argument("--code", default="80211n-648-3/4", help=f"channel code: {', '.join(CODES)} ('none': uncoded)")
    p.add_argument("--decoder", default="fast", choices=DECODERS, help="LDPC decoder")
    p.add_argument("--num-iter", type=int, default=20, help="max BP iterations")
    p.add_argument("--estimator", default="ls", choices=ESTIMATORS, help="channel estimation")
    p.add_argument("--interpolation", default="lin", choices=INTERPOLATIONS, help="LS interpolation")
    p.add_argument("--equalizer", default="lmmse", choices=EQUALIZERS, help="equalizer")
    p.add_argument("--backend", default="fast", choices=BACKENDS, help="receiver implementation")
    p.add_argument("--snr-db", default="0:20:2", help="start:stop:step (stop included) or comma list, dB")
    p.add_argument("--target-block-errors", type=int, default=100, help="stop a point after this many codeword errors")
    p.add_argument("--target-bit-errors", type=int, default=1000, help="... and this many payload bit errors")
    p.add_argument("--max-bits", type=float, default=2e6, help="stop a point after this many payload bits")
    p.add_argument("--no-early-stop", action="store_true", help="simulate every SNR even after an error-free point")
    p.add_argument("--seed", type=int, default=0, help="seed of the sweep")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:N)")
    p.add_argument("--out", type=Path, default=Path("results/ber/ber.csv"), help="CSV path; the PNG goes beside it")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    register_mcs(sub)


def run(args: argparse.Namespace) -> int:
    from semlink.phy.ber import COLUMNS, parse_snr_list, rows, run_ber_sweep, save_ber_plot
    from semlink.phy.config import LinkConfig
    from semlink.tables import write_csv

    params = {k: v for k, v in (("delay_spread", args.delay_spread), ("speed", args.speed),
                                ("carrier_frequency", args.carrier_frequency)) if v is not None}
    cfg = LinkConfig(code=args.code, modulation=args.modulation, demapping=args.demapping, decoder=args.decoder,
                     num_iter=args.num_iter, channel=args.channel, channel_params=params, domain=args.domain,
                     estimator=args.estimator, interpolation=args.interpolation, equalizer=args.equalizer,
                     backend=args.backend, device=args.device)
    snrs = parse_snr_list(args.snr_db)
    points = run_ber_sweep(cfg, snrs, target_block_errors=args.target_block_errors,
                           target_bit_errors=args.target_bit_errors, max_bits=int(args.max_bits),
                           seed=args.seed, early_stop=not args.no_early_stop, progress=not args.quiet)
    table = rows(points, cfg)
    write_csv(args.out, table, COLUMNS)
    png = args.out.with_suffix(".png")
    save_ber_plot(table, cfg, png)
    print(f"{'SNR dB':>7} {'BER':>10} {'BLER':>10} {'raw BER':>10} {'bits':>10}")
    for r in table:
        print(f"{r['snr_db']:7.2f} {r['ber']:10.3e} {r['bler']:10.3e} {r['raw_ber']:10.3e} {r['bits']:10d}")
    print(f"wrote {args.out} and {png}")
    return 0


def register_mcs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mcs-table", formatter_class=D,
        help="BLER tables of every MCS for a channel/receiver (link adaptation): list, build, rebuild",
        description="Measure (or show from the user cache) the codeword error rate of QPSK/16-QAM/64-QAM x LDPC "
        "rate 1/2, 3/4 on an SNR grid for one channel and receiver, and the SNR threshold of each MCS at the BLER "
        "target (the tables `[link] adapt_bler` uses). Rule: per point, codewords until --max-errors errors or "
        "ceil(20 / target) codewords.",
    )
    p.add_argument("--list", action="store_true", help="list the cached tables and exit")
    p.add_argument("--channel", default="tdl-c", choices=list_channels(), help="channel model")
    p.add_argument("--estimator", default="ls", choices=ESTIMATORS, help="channel estimation")
    p.add_argument("--equalizer", default="lmmse", choices=EQUALIZERS, help="equalizer")
    p.add_argument("--domain", default="freq", choices=DOMAINS, help="frequency- or time-domain channel")
    p.add_argument("--target", type=float, default=0.01, help="BLER target")
    p.add_argument("--max-errors", type=int, default=100, help="stop a point after this many codeword errors")
    p.add_argument("--rebuild", action="store_true", help="measure again even if cached")
    p.set_defaults(func=run_mcs)


def run_mcs(args: argparse.Namespace) -> int:
    from semlink.phy.config import LinkConfig
    from semlink.phy.mcs import cached_table, list_cached
    from semlink.phy.mcs import ADAPT_SNR_GRID

    if args.list:
        for name, facts in list_cached():
            link = facts.get("link", {})
            print(f"{name}  {link.get('channel')} {link.get('channel_params')} {link.get('estimator')}+"
                  f"{link.get('equalizer')} {link.get('domain')}  target {facts.get('target')}  "
                  f"{facts.get('seconds', '?')} s to build")
        return 0
    cfg = LinkConfig(channel=args.channel, estimator=args.estimator, equalizer=args.equalizer, domain=args.domain)
    table, cached = cached_table(cfg, ADAPT_SNR_GRID, args.target, args.max_errors, rebuild=args.rebuild,
                                 progress=None)
    print(f"{'from the cache' if cached else 'measured'}: {cfg.channel}, {cfg.estimator}+{cfg.equalizer}, "
          f"BLER target {table.target:g}, SNR {table.snr_db[0]:g}..{table.snr_db[-1]:g} dB")
    for name in table.bler:
        thr = table.threshold_db(name)
        print(f"  {name:10s} threshold {'never' if thr is None else f'{thr:g} dB':>9s}   codewords "
              f"{sum(table.blocks[name])}, errors {sum(table.errors[name])}")
    return 0
