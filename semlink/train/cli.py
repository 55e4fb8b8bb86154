"""``semlink train``: train learned codecs (``semlink train hyperprior --lambda L --steps N --out DIR``)."""

from __future__ import annotations

import argparse

from semlink.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand (``hyperprior`` and every other registered task) to ``subparsers``."""
    p = subparsers.add_parser(
        "train",
        help="train a learned model (hyperprior, and each seed system's networks)",
        description="Train learned codecs on images that are not in the photos test set.",
    )
    sub = p.add_subparsers(dest="train_command", required=True)
    h = sub.add_parser(
        "hyperprior",
        help="train CompressAI's ScaleHyperprior (Balle 2018) for one rate point",
        description=(
            "Rate-distortion training (loss = lambda*255^2*MSE + bpp). Writes DIR/train_state.pt "
            "(resumable), DIR/hyperprior.pt (codec checkpoint: get_codec('hyperprior', checkpoint=...)) "
            "and DIR/log.csv. CompressAI's lambdas for qualities 1..8: 0.0018 0.0035 0.0067 0.0130 "
            "0.0250 0.0483 0.0932 0.1800."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_shared_options(h, recipe_help="TOML file of these options (keys as the long options, 'lambda' for --lambda); "
                                       "options given on the command line override it")
    h.add_argument("--n", type=int, default=None, help="channels N (default 128)")
    h.add_argument("--m", type=int, default=None, help="latent channels M (default 192)")
    h.add_argument("--arch", default=None, choices=("ScaleHyperprior", "MeanScaleHyperprior"),
                   help="CompressAI architecture (default ScaleHyperprior)")
    h.set_defaults(func=_hyperprior)
    from .task import list_tasks

    for name in list_tasks():
        if name != "hyperprior":
            _add_task_parser(sub, name)
    st = sub.add_parser("status", help="list training runs: step, hours, speed, ETA, last validation",
                        description="Training runs under the user cache's runs/ folder (or --runs DIR).")
    st.add_argument("--runs", default=None, help="folder to search for runs (default: the user cache's runs/)")
    st.set_defaults(func=_status)
    return p


def _status(args: argparse.Namespace) -> int:
    from .runs import format_status, list_runs, run_status, runs_dir

    root = args.runs or runs_dir()
    runs = list_runs(root)
    if not runs:
        print(f"no training runs under {root}")
        return 0
    for r in runs:
        print(format_status(run_status(r)))
    return 0


def _add_shared_options(p: argparse.ArgumentParser, recipe_help: str) -> None:
    """The options of every training task (fields of :class:`~semlink.train.loop.TrainConfig`)."""
    p.add_argument("--recipe", default=None, help=recipe_help)
    p.add_argument("--lambda", dest="lmbda", type=float, default=None,
                   help="rate-distortion trade-off (required, except for tasks with several rate levels)")
    p.add_argument("--steps", type=int, default=None, help="total training steps (a resumed run continues up to it; required)")
    p.add_argument("--out", default=None,
                   help="run directory (default: the user cache's runs/RECIPE-NAME, or runs/TASK without a recipe; "
                        "`semlink train status` lists them)")
    p.add_argument("--resume", action="store_true", default=None, help="continue the run in --out (starts fresh if it holds none)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop cleanly after this many minutes with a checkpoint; --resume continues (a chain of short "
                        "runs gives the same result as one long run)")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default cpu)")
    p.add_argument("--amp", default=None, choices=("auto", "none", "bf16"),
                   help="bf16 autocast where the task allows it (entropy models stay float32); default auto: bf16 "
                        "where the device has it natively (CPU flags avx512_bf16/amx_bf16, CUDA bf16), else float32")
    p.add_argument("--compile", default=None, choices=("auto", "on", "off"),
                   help="torch.compile the task's transforms; default auto: on for runs of >= 1000 steps where a "
                        "C++ compiler exists (eager if compiling fails); off = eager")
    p.add_argument("--init", default=None,
                   help="start from the weights of another run (its directory, train_state.pt or exported checkpoint), "
                        "e.g. to fine-tune a trained model to another --lambda; optimizers start fresh")
    p.add_argument("--batch", type=int, default=None, help="batch size (default 8)")
    p.add_argument("--crop", type=int, default=None, help="crop side, multiple of 64 (default 256)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-4; x0.1 after --lr-drop of the steps)")
    p.add_argument("--lr-drop", type=float, default=None, help="fraction of --steps after which the lr drops 10x (0.9)")
    p.add_argument("--data", "--dataset", dest="data", default=None,
                   help="training images, comma-separated: 'bundled' (photos shipped in scikit-image/matplotlib, "
                        "not the test set), 'vc2' (optional vc2-conformance-data wheel), folder:DIR (the images "
                        "in DIR and its subfolders, e.g. a pack from `semlink data pack`) or a directory of images")
    p.add_argument("--vc2-scale", type=int, default=None, help="downscale factor of the vc2 pictures (2)")
    p.add_argument("--quality", type=int, default=None, help="rate-point id stored in the exported checkpoint (1..31)")
    p.add_argument("--save-every", type=int, default=None, help="checkpoint every N steps and at the end (1000)")
    p.add_argument("--log-every", type=int, default=None, help="log.csv line every N steps (50)")
    p.add_argument("--seed", type=int, default=None, help="seed of the initialisation, crops and noise (0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="hold out every n-th image (n = 1/fraction) for validation; best.pt keeps the best (0: none)")
    p.add_argument("--val-every", type=int, default=None, help="validate every N steps (1000)")
    p.add_argument("--ema", type=float, default=None,
                   help="EMA decay of the weights used for validation and the exports, e.g. 0.999 (default 0: off)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_task_parser(sub, name: str) -> None:
    """``semlink train NAME``: the shared options of every task, plus ``--set KEY=VALUE`` for its own."""
    from .task import task_class

    cls = task_class(name)
    doc = (cls.__doc__ or "").strip().splitlines()
    mod = __import__(cls.__module__, fromlist=["__doc__"])
    t = sub.add_parser(name, help=doc[0] if doc else f"train {name} (see {cls.__module__})",
                       description=(mod.__doc__ or (doc[0] if doc else name)),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_shared_options(t, recipe_help="TOML file: the options below as keys ('lambda' for --lambda), the task's own "
                                       "settings in an [options] table; options given on the command line override it")
    t.add_argument("--set", dest="set_options", action="append", default=[], metavar="KEY=VALUE",
                   help="a task option (TOML value, e.g. --set phase='\"gan\"' or --set w_gan=0.15); repeatable")
    t.set_defaults(func=_generic, task_name=name)


def _generic(args: argparse.Namespace) -> int:
    import tomllib

    from .loop import TrainConfig

    opts = _merged_options(args, model=args.task_name)
    options = dict(opts.pop("options", {}))
    for item in args.set_options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            options[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            options[key.strip()] = value  # a bare string
    s = _train_and_report(TrainConfig(**opts, model=args.task_name, options=options, progress=not args.no_progress))
    if not s.get("rank", 0):
        print(f"checkpoint: {s['checkpoint']}")
    return 0


def _train_and_report(cfg) -> dict:
    """Run the training; print the step, speed and last figures; return the trainer's summary."""
    from .data import TrainingDataError
    from .loop import train

    try:
        s = train(cfg)
    except TrainingDataError as exc:
        raise ConfigError(str(exc)) from None
    if s.get("rank", 0):
        return s  # data-parallel run: rank 0 reports
    extra = "".join(f" {k}={s[k]:.4g}" for k in ("loss", "bpp", "psnr") if k in s)
    stop = " (stopped at --max-minutes; continue with --resume)" if s.get("stopped_at_time_limit") else ""
    print(f"step {s['step']} ({s['steps_run']} run, {s['it_per_s']:.2f} it/s){extra}{stop}")
    return s


#: TrainConfig fields settable from a recipe or the command line (recipe key -> field)
_RECIPE_KEYS = {"lambda": "lmbda", "steps": "steps", "out": "out", "resume": "resume_flag", "max_minutes": "max_minutes",
                "device": "device", "amp": "amp", "compile": "compile", "n": "n", "m": "m", "arch": "arch", "init": "init", "batch": "batch",
                "crop": "crop", "lr": "lr", "lr_drop": "lr_drop", "data": "data", "vc2_scale": "vc2_scale",
                "quality": "quality", "save_every": "save_every", "log_every": "log_every", "seed": "seed",
                "threads": "threads", "val_fraction": "val_fraction", "val_every": "val_every", "ema": "ema"}


def _merged_options(args: argparse.Namespace, model: str = "hyperprior") -> dict:
    """Recipe values overridden by the options given on the command line -> TrainConfig kwargs."""
    from pathlib import Path

    opts: dict = {}
    if args.recipe:
        from semlink.options import read_toml

        path = Path(args.recipe)
        raw = read_toml(path, "--recipe")
        extra = {"description", "model", "options"}
        unknown = sorted(set(raw) - set(_RECIPE_KEYS) - extra)
        if unknown:
            raise ConfigError(f"--recipe {path}: unknown key(s) {unknown}; allowed: {', '.join(sorted(set(_RECIPE_KEYS) | extra))}")
        if raw.get("model", model) != model:
            raise ConfigError(f"--recipe {path}: model = {raw['model']!r}, this is `semlink train {model}`")
        opts = {_RECIPE_KEYS[k]: v for k, v in raw.items() if k in _RECIPE_KEYS}
        if "options" in raw:
            if not isinstance(raw["options"], dict):
                raise ConfigError(f"--recipe {path}: 'options' must be a table ([options])")
            opts["options"] = dict(raw["options"])
    arg_field = {"lmbda": "lmbda", "resume": "resume_flag"}
    for key, field in _RECIPE_KEYS.items():
        attr = {"lambda": "lmbda"}.get(key, key)
        v = getattr(args, attr, None)
        if v is not None:
            opts[arg_field.get(attr, field)] = v
    if opts.get("out") is None:  # runs live in the user cache unless told otherwise
        from .runs import default_out

        opts["out"] = str(default_out(Path(args.recipe).stem if args.recipe else model))
    for need, flag in (("steps", "--steps"),):
        if opts.get(need) is None:
            raise ConfigError(f"{flag} is required (on the command line or in the --recipe)")
    return opts


def _hyperprior(args: argparse.Namespace) -> int:
    from .loop import TrainConfig

    s = _train_and_report(TrainConfig(**_merged_options(args), progress=not args.no_progress))
    if not s.get("rank", 0):
        print(f"checkpoint: {s['checkpoint']}  (get_codec('hyperprior', checkpoint='{s['checkpoint']}'))")
    return 0
