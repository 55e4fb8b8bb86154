"""What ``semlink zoo add`` records for gan-c2f files: the entries (base layer: role "base";
enhancement layer N: role "enhancement", quality N) and the test figures of every codec rate
point on the ``photos`` set (7 images, never trained on): mean bpp, PSNR, MS-SSIM and ST-LPIPS."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LOSS_BASE = ("phase rd: lambda*255^2*MSE + bpp; phase gan: lambda*255^2*MSE*w_mse + w_rate*bpp + w_perc*ST-LPIPS "
             "+ w_gan*hinge_G + w_fm*feature matching (conditional 2-scale patch D)")
LOSS_ENH = "lambda*255^2*MSE(x, base + r_hat) + bpp_enh (base frozen)"


def test_points(manifest: Path) -> list[dict]:
    """Every rate point of the gan-c2f codec the manifest describes, scored on ``photos``."""
    from semlink.codecs import get_codec
    from semlink.evaluate import evaluate

    codec = get_codec("gan-c2f", manifest=str(manifest))
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
    return out


def zoo_test(manifest: Path, entries: list[dict]) -> dict[str, dict]:
    """Summary columns of `semlink zoo list`: the base alone at its highest level, and each
    enhancement layer over that base; the base's entry holds every point."""
    import json

    pts = test_points(Path(manifest))
    models = json.loads(Path(manifest).read_text())["models"]
    out = {}
    for m in models:
        if m.get("codec") != "gan-c2f":
            continue
        want = None if m.get("role") == "base" else f"e{m['quality']}"
        top = [p for p in pts if p["enhancement"] == want][-1]
        out[m["name"]] = {"test_set": "photos (7 images)", "test_point": top["quality"], "test_bpp": top["bpp"],
                          "test_psnr_db": top["psnr_db"], "test_ms_ssim": top["ms_ssim"],
                          "test_perceptual": top["perceptual"], "perceptual_metric": top["perceptual_metric"],
                          **({"test_points": pts} if m.get("role") == "base" else {})}
    return {k: v for k, v in out.items() if k in {e["name"] for e in entries}}
