"""``semlink sweep`` and ``semlink plot``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from semlink.errors import ConfigError

D = argparse.ArgumentDefaultsHelpFormatter
DEFAULT_PLOTS = ("psnr", "ms_ssim", "perceptual", "ber", "bler")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", formatter_class=D, help="run an SNR sweep spec (TOML): codecs x links x SNRs -> results table + plots",
        description="Run or resume a sweep. Rows already in OUT/rows.jsonl are skipped (resume after Ctrl-C "
        "or a crash); --fresh starts over. Writes OUT/results.csv and plots of quality and BER vs SNR.",
    )
    p.add_argument("spec", type=Path, help="sweep spec (TOML), e.g. experiments/quick.toml")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the spec's 'out', else results/<name>)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes (default: the number of CPU cores; results do not depend on it)")
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="execution backend: local process pool, or Dask (an existing cluster with --scheduler or "
                   "$DASK_SCHEDULER_ADDRESS, else a local one of --workers processes)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="Dask scheduler of an existing cluster (with --backend dask; default $DASK_SCHEDULER_ADDRESS)")
    p.add_argument("--fresh", action="store_true", help="discard stored rows and start over")
    p.add_argument("--no-plots", action="store_true", help="do not draw plots at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_sweep_cmd)

    q = sub.add_parser(
        "plot", formatter_class=D, help="plot a results table: metric vs SNR (95%% CI), rate breakdown",
        description="Draw METRIC vs SNR (mean and 95%% confidence band over items and trials), one line per "
        "codec/rate (and link, when several), as PNG and PDF; 'rates' draws the stacked bits-per-part chart.",
    )
    q.add_argument("results", type=Path, nargs="+", help="results.csv or the folder holding it (several: one plot of all)")
    q.add_argument("--metric", default="psnr",
                   choices=("psnr", "ms_ssim", "lpips", "st_lpips", "ber", "bler", "raw_ber", "rates"),
                   help="what to plot")
    q.add_argument("--out", type=Path, default=None, help="output file stem (default: beside the results, <metric>_vs_snr)")
    q.set_defaults(func=run_plot_cmd)


def run_sweep_cmd(args: argparse.Namespace) -> int:
    from semlink.sweep.runner import run_sweep
    from semlink.sweep.spec import load_spec

    spec = load_spec(args.spec)
    out = args.out or spec.out
    if args.scheduler and args.backend != "dask":
        raise ConfigError("--scheduler needs --backend dask")
    rows = run_sweep(spec, out, workers=args.workers, fresh=args.fresh, progress=not args.quiet, backend=args.backend,
                     scheduler=args.scheduler)
    print(f"{len(rows)} rows in {Path(out) / 'results.csv'}")
    _print_stage_times(rows)
    if not args.no_plots:
        for f in draw_default_plots(rows, Path(out)):
            print(f"wrote {f}")
    return 0


def _print_stage_times(rows: list[dict]) -> None:
    """Seconds per stage summed over the rows (workers run in parallel: this is work, not wall time)."""
    stages = ("load_s", "warmup_s", "encode_s", "link_s", "decode_s", "metrics_s")
    tot = {s: sum(float(r.get(s) or 0) for r in rows) for s in stages}
    print("worker seconds by stage: " + ", ".join(f"{s[:-2]} {v:.1f}" for s, v in tot.items())
          + " (warmup: link set-up and codec construction, once per worker; encodings are cached)")


def draw_default_plots(rows, out: Path) -> list[Path]:
    """The standard plots of a sweep's rows (or table) into ``out``: each quality metric and BER/BLER
    vs SNR, the rate breakdown and, with link adaptation, the MCS chosen."""
    from semlink.results import frame
    from semlink.results import plots as P

    df = rows if hasattr(rows, "columns") else frame(rows)
    files = []
    perceptual = next((m for m in ("lpips", "st_lpips") if m in df.columns), None)
    for m in DEFAULT_PLOTS:
        m = perceptual if m == "perceptual" else m
        if m and m in df.columns:
            files += P.save(P.plot_metric(df, m), out / f"{m}_vs_snr")
    files += P.save(P.plot_rate_breakdown(df), out / "rate_breakdown")
    if "mcs" in df.columns and (df["mcs"].fillna("") != "").any():
        files += P.save(P.plot_mcs(df), out / "mcs_vs_snr")
    return files


def run_plot_cmd(args: argparse.Namespace) -> int:
    from semlink.results import load
    from semlink.results import plots as P

    df = load(list(args.results))
    first = args.results[0]
    base = first if first.is_dir() else first.parent
    if args.metric == "rates":
        files = P.save(P.plot_rate_breakdown(df), args.out or base / "rate_breakdown")
    else:
        files = P.save(P.plot_metric(df, args.metric), args.out or base / f"{args.metric}_vs_snr")
    for f in files:
        print(f"wrote {f}")
    return 0
