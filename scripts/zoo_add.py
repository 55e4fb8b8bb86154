"""Add a trained ``hyperprior`` run to the shipped model zoo (maintainer tool).

    python scripts/zoo_add.py RUN_DIR --name hyperprior-q1 [--zoo semlink/zoo]

Copies ``RUN_DIR/hyperprior.pt`` (float16 weights + the digest of their CDF tables, written by
``semlink train hyperprior``) to ``ZOO/NAME.pt`` and writes its manifest entry (replacing one of the same
name): sha256, architecture and size, lambda, training data, crop/batch/lr, steps, the
initialisation it was fine-tuned from, the final training loss / bpp / PSNR (mean of the last
``--last`` log lines of ``log.csv``) and the test bpp / PSNR / MS-SSIM on the ``photos`` set
(mean over its 7 images). Refuses files over 10 MB or a zoo over 60 MB.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np

MAX_FILE = 10 * 2**20
MAX_ZOO = 60 * 2**20


def _train_facts(run: Path, last: int) -> dict:
    with open(run / "log.csv") as f:
        rows = list({int(r["step"]): r for r in csv.DictReader(f)}.values())  # last line per step
    tail = rows[-last:]
    mean = lambda k: float(np.mean([float(r[k]) for r in tail]))  # noqa: E731
    return {"final_train_loss": round(mean("loss"), 5), "final_train_bpp": round(mean("bpp"), 4),
            "final_train_psnr_db": round(mean("psnr"), 3), "train_seconds": round(sum(float(r["seconds"]) for r in rows), 1)}


def _validation_facts(run: Path) -> dict:
    """The last line of val.csv (held-out split), or a statement that the run had none."""
    path = run / "val.csv"
    if not path.is_file():
        return {"validation": "none: trained on every image of its data (no held-out split)"}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {"validation": "none logged"}
    last = rows[-1]
    return {"validation_step": int(last["step"]), **{f"val_{k}": round(float(v), 5) for k, v in last.items() if k != "step"}}


def _corpus_facts(data: str) -> dict:
    """Manifest hash and size of the training packs among the run's data sources (folder:DIR)."""
    out = {}
    for src in data.split(","):
        d = Path(src.split(":", 1)[1]) if src.startswith("folder:") else Path(src)
        if (d / "manifest.json").is_file():
            m = json.loads((d / "manifest.json").read_text())
            out = {"corpus_manifest_hash": m.get("hash"), "corpus_images": len(m.get("images", [])),
                   "corpus_mpixel": round(m.get("pixels", 0) / 1e6, 1)}
    return out


def _test_facts(ckpt: Path) -> dict:
    from semlink.codecs import get_codec
    from semlink.evaluate import evaluate

    codec = get_codec("hyperprior", checkpoint=str(ckpt))
    rows = evaluate(codec, "photos", [{"quality": codec.qualities()[0]}], require_decoded=True)
    mean = lambda k: float(np.mean([r[k] for r in rows]))  # noqa: E731
    return {"test_set": f"photos ({len(rows)} images)", "test_bpp": round(mean("bpp"), 4),
            "test_psnr_db": round(mean("psnr"), 3), "test_ms_ssim": round(mean("ms_ssim"), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="training output directory")
    ap.add_argument("--name", required=True, help="manifest name, e.g. hyperprior-q1 (also the file name)")
    ap.add_argument("--zoo", type=Path, default=Path(__file__).resolve().parents[1] / "semlink" / "zoo")
    ap.add_argument("--last", type=int, default=10, help="log.csv lines averaged for the final training figures")
    ap.add_argument("--note", default="", help="free-text note stored in the entry")
    ap.add_argument("--recipe", default="", help="the recipe file the run was made with (stored in the entry)")
    args = ap.parse_args()

    import torch

    from semlink.zoo.checkpoints import manifest_entry, read_checkpoint

    src = args.run / "hyperprior.pt"
    state = torch.load(args.run / "train_state.pt", map_location="cpu", weights_only=True)
    ckpt = read_checkpoint(src)
    if src.stat().st_size > MAX_FILE:
        sys.exit(f"{src}: {src.stat().st_size} bytes, over the 10 MB limit")
    dst = args.zoo / f"{args.name}.pt"
    shutil.copyfile(src, dst)
    cfg, meta = state["config"], ckpt["meta"]
    facts = {
        "arch": ckpt["arch"], "N": ckpt["config"]["N"], "M": ckpt["config"]["M"], "lambda": cfg["lmbda"],
        "loss": "lambda * 255^2 * MSE + bpp (CompressAI RateDistortionLoss)",
        "training_data": cfg["data"], "vc2_scale": cfg["vc2_scale"], "crop": cfg["crop"], "batch": cfg["batch"],
        "lr": cfg["lr"], "lr_drop": cfg["lr_drop"], "steps": int(state["step"]), "device": cfg["device"],
        "init": Path(meta["init"]).name if meta.get("init") else None, "init_lambda": meta.get("init_lambda"), "init_steps": meta.get("init_step"),
        "amp": cfg.get("amp", "none"), "train_seconds_total": state.get("seconds"),
        **_corpus_facts(cfg["data"]), **_train_facts(args.run, args.last), **_validation_facts(args.run),
        **_test_facts(dst),
    }
    if args.recipe:
        facts["recipe"] = str(args.recipe)
    if args.note:
        facts["note"] = args.note
    entry = manifest_entry(dst, name=args.name, codec="hyperprior", quality=int(meta["quality"]), **facts)
    man_path = args.zoo / "manifest.json"
    man = json.loads(man_path.read_text())
    man["models"] = sorted([m for m in man["models"] if m["name"] != args.name] + [entry], key=lambda m: m["quality"])
    total = sum((args.zoo / m["file"]).stat().st_size for m in man["models"])
    if total > MAX_ZOO:
        dst.unlink()
        sys.exit(f"zoo would hold {total} bytes, over the 60 MB limit")
    man_path.write_text(json.dumps(man, indent=2) + "\n")
    print(json.dumps(entry, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
