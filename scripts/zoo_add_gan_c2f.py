"""Add a trained gan-c2f system (base layer + enhancement layers) to the shipped zoo (maintainer tool).

    python scripts/zoo_add_gan_c2f.py --base-rd runs/gan-c2f/base-rd --base-gan runs/gan-c2f/base-gan \
        --enh runs/gan-c2f/enh-e1 [--zoo semlink/zoo]

Copies ``BASE_GAN/gan-c2f-base.pt`` to ``ZOO/gan-c2f-base.pt`` (role "base", quality 0) and each
``ENH/gan-c2f-enh.pt`` to ``ZOO/gan-c2f-eN.pt`` (role "enhancement", quality N), and writes
their manifest entries (replacing those of the same names): architecture and config, losses,
data and corpus hash, every training phase's recipe, steps, device and seconds, the last
validation line, and the test figures of every codec rate point on the ``photos`` set (mean
bpp / PSNR / MS-SSIM / perceptual distance over its 7 images, never used in training).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_add import MAX_FILE, MAX_ZOO, _corpus_facts, _train_facts, _validation_facts  # noqa: E402


def _phase(run: Path) -> dict:
    import torch

    state = torch.load(run / "train_state.pt", map_location="cpu", weights_only=True)
    cfg = state["config"]
    facts = {"run": run.name, "lambda": cfg["lmbda"], "options": cfg.get("options", {}), "crop": cfg["crop"],
             "batch": cfg["batch"], "lr": cfg["lr"], "lr_drop": cfg["lr_drop"], "amp": cfg.get("amp"),
             "steps": int(state["step"]), "device": cfg["device"], "train_seconds_total": round(float(state.get("seconds", 0)), 1),
             "init": Path(state.get("init_meta", {}).get("init", "")).name or None, "training_data": cfg["data"],
             **_train_facts(run, 10), **_validation_facts(run)}
    return facts


def _test_points(zoo: Path) -> list[dict]:
    from semlink.codecs import get_codec
    from semlink.evaluate import evaluate

    codec = get_codec("gan-c2f", manifest=str(zoo / "manifest.json"))
    table = codec.rate_table()
    rows = evaluate(codec, "photos", [{"quality": q} for q in table], ("psnr", "ms_ssim", "perceptual"),
                    perceptual="auto", require_decoded=True)
    out = []
    for q, (keep, e) in table.items():
        rs = [r for r in rows if r["value"] == q]
        pm = rs[0]["perceptual_metric"]
        vals = {"bpp": [r["bpp"] for r in rs], "psnr_db": [r["psnr"] for r in rs],
                "ms_ssim": [r["ms_ssim"] for r in rs], "perceptual": [r[pm] for r in rs]}
        out.append({"quality": q, "base_channels": keep, "enhancement": None if e is None else f"e{e + 1}",
                    **{k: round(float(np.mean(v)), 4) for k, v in vals.items()}, "perceptual_metric": pm})
        print(out[-1])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-rd", type=Path, required=True, help="the rate-distortion warm-start run")
    ap.add_argument("--base-gan", type=Path, required=True, help="the adversarial run (its export is shipped)")
    ap.add_argument("--enh", type=Path, nargs="+", default=[],
                    help="enhancement runs (directory: its gan-c2f-enh.pt; or a checkpoint file of the run, e.g. RUN/best.pt), "
                         "in quality order")
    ap.add_argument("--zoo", type=Path, default=Path(__file__).resolve().parents[1] / "semlink" / "zoo")
    ap.add_argument("--note", default="")
    args = ap.parse_args()

    from semlink.zoo.checkpoints import manifest_entry, read_checkpoint

    man_path = args.zoo / "manifest.json"
    man = json.loads(man_path.read_text())
    new = []
    src = args.base_gan / "gan-c2f-base.pt"
    ck = read_checkpoint(src)
    if src.stat().st_size > MAX_FILE:
        sys.exit(f"{src}: over the 10 MB limit")
    shutil.copyfile(src, args.zoo / "gan-c2f-base.pt")
    rd, gan = _phase(args.base_rd), _phase(args.base_gan)
    base_facts = {
        "role": "base", "arch": ck["arch"], "config": ck["config"],
        "loss": "phase rd: lambda*255^2*MSE + bpp; phase gan: lambda*255^2*MSE*w_mse + w_rate*bpp + w_perc*ST-LPIPS "
                "+ w_gan*hinge_G + w_fm*feature matching (conditional 2-scale patch D)",
        "perceptual_loss": "ST-LPIPS (stlpips-pytorch VGG-16 trunk, shipped weights), the same network as the reported metric",
        "semantic_map": "unsupervised 16x16-block k-means map (CIELAB mean + L* std), K=%d, centres fitted on the training data" % ck["config"]["k"],
        "training_data": gan["training_data"], **_corpus_facts(gan["training_data"]),
        "steps": rd["steps"] + gan["steps"], "device": gan["device"],
        "train_seconds": round(rd["train_seconds_total"] + gan["train_seconds_total"], 1),
        "phases": {"rd": {**rd, "recipe": "semlink/semantic/gan_c2f/recipes/base-rd.toml"},
                   "gan": {**gan, "recipe": "semlink/semantic/gan_c2f/recipes/base-gan.toml"}},
        "lambda": gan["lambda"],
    }
    if args.note:
        base_facts["note"] = args.note
    new.append(manifest_entry(args.zoo / "gan-c2f-base.pt", name="gan-c2f-base", codec="gan-c2f", quality=0, **base_facts))
    for i, run in enumerate(args.enh, start=1):
        src = run if run.suffix == ".pt" else run / "gan-c2f-enh.pt"
        run = src.parent
        ck = read_checkpoint(src)
        dst = args.zoo / f"gan-c2f-e{i}.pt"
        shutil.copyfile(src, dst)
        ph = _phase(run)
        shipped_step = ck["meta"].get("step")
        if shipped_step is not None and shipped_step != ph["steps"]:
            ph["steps_run"] = ph["steps"]
            ph["steps"] = int(shipped_step)
            ph["selected"] = f"{src.name}: the checkpoint of step {shipped_step} (lowest validation loss {ck['meta'].get('val')})"
        new.append(manifest_entry(dst, name=f"gan-c2f-e{i}", codec="gan-c2f", quality=i, role="enhancement", arch=ck["arch"],
                                  config=ck["config"], base="gan-c2f-base",
                                  loss="lambda*255^2*MSE(x, base + r_hat) + bpp_enh (base frozen)",
                                  training_data=ph["training_data"], **_corpus_facts(ph["training_data"]),
                                  steps=ph["steps"], device=ph["device"], train_seconds=ph["train_seconds_total"],
                                  **{"lambda": ph["lambda"]}, init=ph["init"], phase=ph,
                                  recipe=f"semlink/semantic/gan_c2f/recipes/enh-e{i}.toml",
                                  **({"selected": ph["selected"]} if "selected" in ph else {})))
    names = {e["name"] for e in new}
    man["models"] = [m for m in man["models"] if m["name"] not in names and not
                     (m.get("codec") == "gan-c2f" and m["name"].startswith("gan-c2f-e"))] + new
    total = sum((args.zoo / m["file"]).stat().st_size for m in man["models"])
    if total > MAX_ZOO:
        sys.exit(f"zoo would hold {total} bytes, over the 60 MB limit")
    man_path.write_text(json.dumps(man, indent=2) + "\n")
    pts = _test_points(args.zoo)
    for m in man["models"]:
        if m.get("codec") != "gan-c2f":
            continue
        m["test_set"] = "photos (7 images)"
        # the summary columns of `semlink zoo list`: the base alone at its highest level, and
        # each enhancement layer over that base
        want = (None if m["role"] == "base" else f"e{m['quality']}")
        top = [p for p in pts if p["enhancement"] == want][-1]
        m.update(test_point=top["quality"], test_bpp=top["bpp"], test_psnr_db=top["psnr_db"], test_ms_ssim=top["ms_ssim"],
                 test_perceptual=top["perceptual"], perceptual_metric=top["perceptual_metric"])
        if m["name"] == "gan-c2f-base":
            m["test_points"] = pts
    man_path.write_text(json.dumps(man, indent=2) + "\n")
    print(json.dumps([m for m in man["models"] if m["codec"] == "gan-c2f"], indent=1)[:3000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
