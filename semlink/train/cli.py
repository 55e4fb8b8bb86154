"""``semlink train``: train learned codecs (``semlink train hyperprior --lambda L --steps N --out DIR``)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand (``hyperprior``) to ``subparsers``."""
    p = subparsers.add_parser(
        "train",
        help="train a learned codec (hyperprior)",
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
    h.add_argument("--lambda", dest="lmbda", type=float, required=True, help="rate-distortion trade-off")
    h.add_argument("--steps", type=int, required=True, help="total training steps (a resumed run continues up to it)")
    h.add_argument("--out", required=True, help="output directory")
    h.add_argument("--resume", action="store_true", help="continue the run in --out (starts fresh if it holds none)")
    h.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    h.add_argument("--n", type=int, default=128, help="channels N")
    h.add_argument("--m", type=int, default=192, help="latent channels M")
    h.add_argument("--arch", default="ScaleHyperprior", choices=("ScaleHyperprior", "MeanScaleHyperprior"),
                   help="CompressAI architecture")
    h.add_argument("--init", default=None,
                   help="start from the weights of another run (its directory, train_state.pt or hyperprior.pt), "
                        "e.g. to fine-tune a trained model to another --lambda; optimizers start fresh")
    h.add_argument("--batch", type=int, default=8, help="batch size")
    h.add_argument("--crop", type=int, default=256, help="crop side (multiple of 64)")
    h.add_argument("--lr", type=float, default=1e-4, help="learning rate (x0.1 after --lr-drop of the steps)")
    h.add_argument("--lr-drop", type=float, default=0.9, help="fraction of --steps after which the lr drops 10x")
    h.add_argument("--data", "--dataset", dest="data", default="bundled",
                   help="training images, comma-separated: 'bundled' (photos shipped in scikit-image/matplotlib, "
                        "not the test set), 'vc2' (optional vc2-conformance-data wheel), folder:DIR (the images "
                        "in DIR and its subfolders, see semlink data list) or a directory of images")
    h.add_argument("--vc2-scale", type=int, default=2, help="downscale factor of the vc2 pictures")
    h.add_argument("--quality", type=int, default=1, help="rate-point id stored in the exported checkpoint (1..31)")
    h.add_argument("--save-every", type=int, default=1000, help="checkpoint every N steps (and at the end)")
    h.add_argument("--log-every", type=int, default=50, help="log.csv line every N steps")
    h.add_argument("--seed", type=int, default=0, help="seed of the initialisation, crops and noise")
    h.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    h.add_argument("--no-progress", action="store_true", help="no progress bar")
    h.set_defaults(func=_hyperprior)
    return p


def _hyperprior(args: argparse.Namespace) -> int:
    from .data import TrainingDataError
    from .loop import TrainConfig, train

    cfg = TrainConfig(
        lmbda=args.lmbda, steps=args.steps, out=args.out, n=args.n, m=args.m, arch=args.arch, init=args.init, batch=args.batch, crop=args.crop,
        lr=args.lr, lr_drop=args.lr_drop, data=args.data, vc2_scale=args.vc2_scale, device=args.device,
        save_every=args.save_every, log_every=args.log_every, seed=args.seed, quality=args.quality,
        threads=args.threads, progress=not args.no_progress, resume_flag=args.resume,
    )
    try:
        s = train(cfg)
    except TrainingDataError as exc:
        raise ValueError(str(exc)) from None
    extra = "".join(f" {k}={s[k]:.4g}" for k in ("loss", "bpp", "psnr") if k in s)
    print(f"step {s['step']} ({s['steps_run']} run, {s['it_per_s']:.2f} it/s){extra}")
    print(f"checkpoint: {s['checkpoint']}  (get_codec('hyperprior', checkpoint='{s['checkpoint']}'))")
    return 0
