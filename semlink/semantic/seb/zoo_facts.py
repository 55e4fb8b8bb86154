"""What ``semlink zoo add`` records for a Seb file: two entries of the same file — ``seb`` (the
whole SebModel) and ``dvc-pair`` (its inter coder, the "DL w/ corr." baseline) — and the test
figures on the ``mixed`` evaluation set (31 images, 256x256, one set; every bit counted): per
rate level, bpp and PSNR / MS-SSIM of seb and dvc-pair, and the Seb reference images' PSNR."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LOSS = ("eq. 5 + beta * eq. 9 (beta = 1): lambda * MSE (images in [0, 1]) + (R(S) + R(A) + R(Z^m) + R(Z^r)) / pixels "
        "+ L_Reg; gradient copied through k-means (Sec. III-B); + w_dvc * (lambda * MSE + bpp) of the pair codec on "
        "crop pairs; + w_warp * lambda * MSE(warp(ref, flow), x) and w_ref * lambda * MSE(I_ref, x) (warm-up aids); "
        "lambda drawn per step from 64..2048 (gain units)")


def zoo_entries(name: str) -> list[dict]:
    return [{"name": name, "codec": "seb", "quality": 0, "role": "seb system", "lambda": "64-2048"},
            {"name": "dvc-pair", "codec": "dvc-pair", "quality": 0, "lambda": "64-2048",
             "role": f"inter coder of {name}.pt (keys inter.*), the DL w/ corr. baseline"}]


def zoo_test(manifest: Path, entries: list[dict]) -> dict[str, dict]:
    from semlink.codecs import get_codec
    from semlink.evaluate import evaluate
    from semlink.semantic.seb.model import LAMBDAS

    path = Path(manifest).parent / entries[0]["file"]
    out = {}
    for name in ("seb", "dvc-pair"):
        codec = get_codec(name, checkpoint=str(path))
        qs = list(range(1, len(LAMBDAS) + 1))
        rows = evaluate(codec, "mixed", [{"quality": q} for q in qs], ("psnr", "ms_ssim"))
        pix = sum(r["height"] * r["width"] for r in rows if r["value"] == 1)
        for q in qs:
            rs = [r for r in rows if r["value"] == q]
            r = {"bpp": round(sum(x["bits"] for x in rs) / pix, 4),
                 "psnr_db": round(float(np.mean([x["psnr"] for x in rs])), 3),
                 "ms_ssim": round(float(np.mean([x["ms_ssim"] for x in rs])), 4)}
            if name == "seb":
                from semlink.data import get_dataset

                items = [it.data for it in get_dataset("mixed")]
                refs = codec.reference_images(items, quality=q)
                from semlink.simulator import metrics

                r["reference_psnr_db"] = round(float(np.mean([metrics.psnr(a, b) for a, b in zip(items, refs)])), 3)
                r["shared_bpp"] = round(sum(x["shared_bits"] for x in rs) / pix, 4)
                info = rs[0]["encode_info"]
                r["subsets"], r["ks"] = info.get("subsets"), info.get("ks")
            out.setdefault(name, {})[f"q{q} (lambda {LAMBDAS[q - 1]})"] = r
    rep = out["seb"]["q3 (lambda 256)"]
    summary = {"test_set": "mixed (24 clip frames + 7 photos, 256x256, one set of 31; no channel)",
               "test_rate_points": out, "test_point": "q3 (lambda 256, the paper's lowest)", "test_bpp": rep["bpp"],
               "test_psnr_db": rep["psnr_db"], "test_ms_ssim": rep["ms_ssim"]}
    return {e["name"]: summary for e in entries}
