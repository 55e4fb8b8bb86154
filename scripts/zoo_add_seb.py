"""Add a trained Seb system to the shipped zoo (maintainer tool).

    python scripts/zoo_add_seb.py --run runs/seb/seb-cpu2 --phase1 runs/seb/seb-cpu

Copies ``RUN/seb.pt`` -> ``ZOO/seb.pt`` and writes two manifest entries (replacing those of the same
names): ``seb`` (codec ``seb``: the whole SebModel) and ``dvc-pair`` (codec ``dvc-pair``: the inter
coder of the same file, used by the "DL w/ corr." baseline; one file, no copy). Facts: architecture
and config, loss, data, recipe, steps, device, seconds, final training figures, the last validation
line, and test figures on the ``mixed`` evaluation set (31 images, 256x256, never used in training)
with every bit counted: per rate level, bpp and PSNR / MS-SSIM of seb and dvc-pair (no channel), and
the Seb reference images' PSNR.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_add import MAX_FILE, _corpus_facts  # noqa: E402
from zoo_add_vqdeepvsc import _run_facts  # noqa: E402


def _test(path: Path) -> dict:
    from semlink.codecs import get_codec
    from semlink.data import get_dataset
    from semlink.evaluate import evaluate
    from semlink.semantic.seb.model import LAMBDAS
    from semlink.simulator import metrics

    ds = get_dataset("mixed")
    items = [it.data for it in ds]
    out = {}
    for name in ("seb", "dvc-pair"):
        codec = get_codec(name, checkpoint=str(path))
        rows = evaluate(codec, ds, [{"quality": q} for q in range(1, len(LAMBDAS) + 1)])
        for q in range(1, len(LAMBDAS) + 1):
            rs = [r for r in rows if r["value"] == q]  # the whole set of 31, coded jointly
            pix = sum(r["height"] * r["width"] for r in rs)
            r = {"bpp": round(sum(x["bits"] for x in rs) / pix, 4),
                 "psnr_db": round(float(np.mean([x["psnr"] for x in rs])), 3),
                 "ms_ssim": round(float(np.mean([x["ms_ssim"] for x in rs])), 4)}
            if name == "seb":
                refs = codec.reference_images(items, quality=q)
                r["reference_psnr_db"] = round(float(np.mean([metrics.psnr(a, b) for a, b in zip(items, refs)])), 3)
                r["shared_bpp"] = round(sum(x["shared_bits"] for x in rs) / pix, 4)
                r["subsets"], r["ks"] = rs[0]["encode_info"]["subsets"], rs[0]["encode_info"]["ks"]
            out.setdefault(name, {})[f"q{q} (lambda {LAMBDAS[q - 1]})"] = r
            print(name, q, r, flush=True)
    rep = out["seb"]["q3 (lambda 256)"]
    return {"test_set": "mixed (24 clip frames + 7 photos, 256x256, one set of 31; no channel)", "test_rate_points": out,
            "test_point": "q3 (lambda 256, the paper's lowest)", "test_bpp": rep["bpp"], "test_psnr_db": rep["psnr_db"],
            "test_ms_ssim": rep["ms_ssim"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="the run whose export is shipped")
    ap.add_argument("--phase1", type=Path, default=None, help="the run it was initialised from (--init), if any")
    ap.add_argument("--no-test", action="store_true", help="write the entries without test figures")
    ap.add_argument("--zoo", type=Path, default=Path(__file__).resolve().parents[1] / "semlink" / "zoo")
    args = ap.parse_args()

    from semlink.zoo.checkpoints import manifest_entry, read_checkpoint

    src = args.run / "seb.pt"
    if src.stat().st_size > MAX_FILE:
        sys.exit(f"{src}: over the 10 MB limit")
    ck = read_checkpoint(src)
    dst = args.zoo / "seb.pt"
    from semlink.zoo.checkpoints import sha256_file

    if not dst.exists() or sha256_file(dst) != sha256_file(src):  # never rewrite a file a sweep may be reading
        shutil.copyfile(src, dst)
    facts = _run_facts(args.run, "semlink/semantic/seb/recipes/seb-cpu.toml")
    if args.phase1:
        first = _run_facts(args.phase1, "semlink/semantic/seb/recipes/seb-cpu.toml")
        facts = {**facts, "phases": {"phase1 (gains initialised equal)": first,
                                     "phase2 (--init phase1 --set respread_init=true --seed 2)": dict(facts)},
                 "steps": first["steps"] + facts["steps"],
                 "train_seconds": round(first["train_seconds"] + facts["train_seconds"], 1)}
    loss = ("eq. 5 + beta * eq. 9 (beta = 1): lambda * MSE (images in [0, 1]) + (R(S) + R(A) + R(Z^m) + R(Z^r)) / pixels "
            "+ L_Reg; gradient copied through k-means (Sec. III-B); + w_dvc * (lambda * MSE + bpp) of the pair codec on "
            "crop pairs; + w_warp * lambda * MSE(warp(ref, flow), x) and w_ref * lambda * MSE(I_ref, x) (warm-up aids); "
            "lambda drawn per step from 64..2048 (gain units)")
    facts["lambda"] = "64-2048"  # one network, six rate levels (the recipe's lambda is not used by this task)
    common = dict(arch=ck["arch"], config=ck["config"], export_meta=ck.get("meta", {}), **facts, loss=loss,
                  **_corpus_facts(facts["training_data"]))

    def write(extra: dict) -> None:
        new = [manifest_entry(dst, name="seb", codec="seb", quality=0, role="seb system", **common, **extra),
               manifest_entry(dst, name="dvc-pair", codec="dvc-pair", quality=0,
                              role="inter coder of seb.pt (keys inter.*), the DL w/ corr. baseline", **common, **extra)]
        man_path = args.zoo / "manifest.json"
        man = json.loads(man_path.read_text())
        names = {e["name"] for e in new}
        man["models"] = [e for e in man["models"] if e["name"] not in names] + new
        man_path.write_text(json.dumps(man, indent=1) + "\n")
        print("zoo:", ", ".join(sorted(names)), flush=True)

    write({"test_set": "pending (scripts/zoo_add_seb.py is computing it)"})  # usable at once; figures follow
    if not args.no_test:
        write(_test(dst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
