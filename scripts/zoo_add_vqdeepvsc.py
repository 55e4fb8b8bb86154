"""Add a trained VQ-DeepVSC system (MSVQ + interpolator) to the shipped zoo (maintainer tool).

    python scripts/zoo_add_vqdeepvsc.py --msvq runs/vqdeepvsc/msvq-cpu --interp runs/vqdeepvsc/ifnet-cpu

Copies ``MSVQ/vqdeepvsc-msvq.pt`` -> ``ZOO/vqdeepvsc-msvq.pt`` (role "msvq") and
``INTERP/vqdeepvsc-ifnet.pt`` -> ``ZOO/vqdeepvsc-ifnet.pt`` (role "interpolator") and writes
their manifest entries (replacing those of the same names): architecture and config, loss,
data, recipe, steps, device, seconds, the last validation line (codebook perplexity and codes
used for the MSVQ) and test figures on the ``clips`` evaluation set (16 frames, 240x320,
never used in training): the MSVQ's key-frame PSNR / MS-SSIM per channel count and bits per
pixel; the interpolator's PSNR at t = 0.5 against the linear blend and DIS.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_add import MAX_FILE, _corpus_facts, _validation_facts  # noqa: E402


def _run_facts(run: Path, recipe: str) -> dict:
    import csv

    import torch

    state = torch.load(run / "train_state.pt", map_location="cpu", weights_only=True)
    cfg = state["config"]
    with open(run / "log.csv") as f:
        rows = list({int(r["step"]): r for r in csv.DictReader(f)}.values())
    tail = rows[-10:]
    final = {f"final_train_{k}": round(float(np.mean([float(r[k]) for r in tail])), 5)
             for k in tail[-1] if k not in ("step", "seconds") and tail[-1][k] not in ("", "nan")}
    return {"recipe": recipe, "lambda": cfg["lmbda"], "options": cfg.get("options", {}), "crop": cfg["crop"],
            "batch": cfg["batch"], "lr": cfg["lr"], "amp": cfg.get("amp"), "steps": int(state["step"]),
            "device": cfg["device"], "train_seconds": round(float(state.get("seconds", 0)), 1),
            "training_data": cfg["data"], **final, **_validation_facts(run)}


def _clips():
    from semlink.data import get_dataset

    return [(it.name, it.data) for it in get_dataset("clips", max_frames=16, size=264, crop=(240, 320))]


def _msvq_test(path: Path) -> dict:
    import torch

    from semlink.semantic.vqdeepvsc.msvq import perplexity
    from semlink.semantic.vqdeepvsc.checkpoint import load_msvq
    from semlink.simulator import metrics

    m = load_msvq(path)
    out = {}
    frames = np.concatenate([c[::3] for _, c in _clips()])  # every third frame of every clip
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        idx = torch.cat([m.encode_indices(x[i : i + 4]) for i in range(0, len(x), 4)])
        for k in m.levels:
            y = torch.cat([m.decode_indices(idx[i : i + 4, :k], k) for i in range(0, len(x), 4)])
            rec = (y.permute(0, 2, 3, 1).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
            out[f"c{k}"] = {"bpp": round(k * m.bits_per_index / m.factor**2, 4),
                            "psnr_db": round(float(np.mean([metrics.psnr(a, b) for a, b in zip(frames, rec)])), 3),
                            "ms_ssim": round(float(np.mean([metrics.ms_ssim(a, b) for a, b in zip(frames, rec)])), 4),
                            "perplexity": round(perplexity(idx[:, :k], m.L), 1),
                            "codes_used": int(torch.unique(idx[:, :k]).numel())}
            print("msvq", k, out[f"c{k}"])
    k = 3 if "c3" in out else m.levels[0]
    return {"test_set": f"clips (bikes, bigbuckbunny, carphone; 16 frames at 240x320, every third: {len(frames)} frames)",
            "test_key_frames": out, "test_point": f"c{k} (the channel count BCR 0.023 gives at 16 key frames of 16)",
            "test_bpp": out[f"c{k}"]["bpp"], "test_psnr_db": out[f"c{k}"]["psnr_db"], "test_ms_ssim": out[f"c{k}"]["ms_ssim"]}


def _interp_test(path: Path) -> dict:
    from semlink.semantic.vqdeepvsc.interp import dis_interpolate, learned_interpolate
    from semlink.semantic.vqdeepvsc.checkpoint import load_interpolator
    from semlink.simulator import metrics

    net = load_interpolator(path)
    res = {"learned": [], "dis": [], "linear_blend": []}
    for _, c in _clips():
        for i in range(0, c.shape[0] - 2, 2):
            a, t, b = c[i], c[i + 1], c[i + 2]
            res["learned"].append(metrics.psnr(t, learned_interpolate(net, a, b, [0.5])[0]))
            res["dis"].append(metrics.psnr(t, dis_interpolate(a, b, [0.5])[0]))
            res["linear_blend"].append(metrics.psnr(t, ((a.astype(np.uint16) + b + 1) // 2).astype(np.uint8)))
    out = {k: round(float(np.mean(v)), 3) for k, v in res.items()}
    print("interp", out)
    return {"test_set": "clips (16 frames at 240x320): middle frame of every (i, i+2) pair",
            "test_psnr_db_t0.5": out, "test_psnr_db": out["learned"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--msvq", type=Path, required=True)
    ap.add_argument("--interp", type=Path, required=True, help="the interpolator run whose export is shipped")
    ap.add_argument("--interp-init", type=Path, default=None, help="the run it was initialised from (--init), if any")
    ap.add_argument("--zoo", type=Path, default=Path(__file__).resolve().parents[1] / "semlink" / "zoo")
    args = ap.parse_args()

    from semlink.zoo.checkpoints import manifest_entry, read_checkpoint

    man_path = args.zoo / "manifest.json"
    man = json.loads(man_path.read_text())
    new = []
    interp_recipe = ("semlink/semantic/vqdeepvsc/recipes/ifnet-synth-cpu.toml" if args.interp_init
                     else "semlink/semantic/vqdeepvsc/recipes/ifnet-cpu.toml")
    for run, fname, role, recipe in ((args.msvq, "vqdeepvsc-msvq.pt", "msvq", "semlink/semantic/vqdeepvsc/recipes/msvq-cpu.toml"),
                                     (args.interp, "vqdeepvsc-ifnet.pt", "interpolator", interp_recipe)):
        src = run / fname
        if src.stat().st_size > MAX_FILE:
            sys.exit(f"{src}: over the 10 MB limit")
        ck = read_checkpoint(src)
        dst = args.zoo / fname
        shutil.copyfile(src, dst)
        facts = _run_facts(run, recipe)
        if role == "msvq":
            extra = {"loss": "MSE + lambda * VGG feature loss (eq. 12; stlpips-pytorch's shift-tolerant VGG-16 trunk, not ImageNet VGG) "
                             "+ mu1 * commitment (EMA codebook, k-means init, dead-code restarts replace eq. 13's codebook term) "
                             "+ mu2 * log-loss GAN (eq. 14, patch discriminator, from gan_start)",
                     **_corpus_facts(facts["training_data"]), **_msvq_test(dst)}
        else:
            if args.interp_init:
                first = _run_facts(args.interp_init, "semlink/semantic/vqdeepvsc/recipes/ifnet-cpu.toml")
                facts = {**facts, "phases": {"videos": first, "synthetic_motion": dict(facts)},
                         "steps": first["steps"] + facts["steps"],
                         "train_seconds": round(first["train_seconds"] + facts["train_seconds"], 1)}
            extra = {"loss": "Charbonnier(F~, F) + w_warp * Charbonnier(warped neighbours, F)",
                     "training_videos": "opencv-clips corpus source: vtest.avi, tree.avi (Debian opencv-doc, Apache-2.0), "
                                        "downscaled x2, last 10 % of frames held out; phase 2 adds synthetic constant-velocity "
                                        "triples from the photo pack", **_interp_test(dst)}
        new.append(manifest_entry(dst, name=fname[:-3], codec="vqdeepvsc", quality=0, role=role, arch=ck["arch"],
                                  config=ck["config"], **facts, **extra))
    names = {e["name"] for e in new}
    man["models"] = [e for e in man["models"] if e["name"] not in names] + new
    man_path.write_text(json.dumps(man, indent=1) + "\n")
    print("zoo:", ", ".join(sorted(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
