"""Fit VQ-DeepVSC's SNR -> key-frame ratio law (eqs. 5-8) from measured sweep rows.

    python -m semlink.semantic.vqdeepvsc.rho_fit results/vqdeepvsc-rho/results.csv [--out rho_fit.json]

For every (channel, SNR) of the sweep (experiments/vqdeepvsc_rho.toml: fixed rho values at one
BCR, on training clips), the rho with the best mean MS-SSIM over clips and trials is one data
point (ties: the larger rho). The polynomial in ln(gamma) (degree 2) is fitted per channel model
and pooled over all of them (for channels without their own law), with L2 (shipped) and L1
regularisation (eq. 7, v = 1e-3); writes the laws (default: the package's ``rho_fit.json``,
which the codec loads), with each law's largest misfit at its points, and ``rho_fit.png``
beside the results (the points, the fits).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from semlink.semantic.vqdeepvsc.keyframes import RhoLaw

DEGREE, V = 2, 1e-3


def best_points(df: pd.DataFrame) -> pd.DataFrame:
    df = df.assign(rho=df["encode_info.rho"])  # the fixed rho each row was coded with
    mean = df.groupby(["channel", "snr_db", "rho"], as_index=False)["ms_ssim"].mean()
    rows = []
    for (ch, snr), g in mean.groupby(["channel", "snr_db"]):
        g = g.sort_values(["ms_ssim", "rho"], ascending=[False, False])
        rows.append({"channel": ch, "snr_db": float(snr), "rho": float(g.iloc[0]["rho"]),
                     "ms_ssim": float(g.iloc[0]["ms_ssim"]),
                     "by_rho": {str(r): round(float(m), 4) for r, m in zip(g["rho"], g["ms_ssim"])}})
    return pd.DataFrame(rows)


def _misfit(law: RhoLaw, pts: pd.DataFrame) -> float:
    """Largest |law(snr) - best rho| over the points (the law clipped to [0, 1] as used)."""
    return float(max(abs(law(s) - r) for s, r in zip(pts["snr_db"], pts["rho"])))


def main(csv: str, out: Path | None = None) -> None:
    from semlink.results import load

    df = load(csv)
    pts = best_points(df)
    src = f"{csv}: best mean MS-SSIM per (channel, SNR) over rho in {sorted(set(pts['rho']))}"
    clips = sorted(set(df["item"]))
    l2 = RhoLaw.fit(pts["snr_db"], pts["rho"], DEGREE, "l2", V, src)
    l1 = RhoLaw.fit(pts["snr_db"], pts["rho"], DEGREE, "l1", V, src)
    per = {}
    for ch, g in pts.groupby("channel"):
        law = RhoLaw.fit(g["snr_db"], g["rho"], DEGREE, "l2", V, f"{src}; channel {ch}")
        per[str(ch)] = {**law.to_json(), "max_misfit": round(_misfit(law, g), 4)}
    out = Path(out) if out is not None else Path(__file__).resolve().parent / "rho_fit.json"
    doc = {**l2.to_json(), "degree": DEGREE, "l1_alternative": list(l1.coefficients),
           "max_misfit": round(_misfit(l2, pts), 4), "clips": clips, "per_channel": per,
           "measurements": pts.to_dict(orient="records")}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(pts[["channel", "snr_db", "rho", "ms_ssim"]].to_string(index=False))
    print("pooled L2:", [round(c, 5) for c in l2.coefficients], "misfit", doc["max_misfit"],
          " L1:", [round(c, 5) for c in l1.coefficients])
    for ch, d in per.items():
        print(f"{ch} L2:", [round(c, 5) for c in d["coefficients"]], "misfit", d["max_misfit"])
    import numpy as np

    from semlink.results import new_figure, save

    fig = new_figure(figsize=(5.4, 3.6))
    ax = fig.subplots()
    s = np.linspace(min(pts["snr_db"]), max(pts["snr_db"]), 100)
    for (ch, g), marker in zip(pts.groupby("channel"), "os^v"):
        dots = ax.scatter(g["snr_db"], g["rho"], marker=marker, label=f"best rho ({ch})")
        law = RhoLaw.from_json(per[str(ch)])
        ax.plot(s, [law(x) for x in s], color=dots.get_facecolor()[0], label=f"fit, {ch} (shipped)")
    ax.plot(s, [l2(x) for x in s], "k:", label="fit, pooled (other channels)")
    ax.set_xlabel("SNR (Es/N0) [dB]")
    ax.set_ylabel("key-frame ratio rho")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"fitted on {len(clips)} training clips", fontsize=8)
    fig.tight_layout()
    save(fig, (Path(csv) if Path(csv).is_dir() else Path(csv).parent) / "rho_fit", formats=("png",))
    print("wrote", out)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="?", default="results/vqdeepvsc-rho/results.csv", help="the rho sweep's results")
    ap.add_argument("--out", default=None, help="where the law goes (default: the package's rho_fit.json)")
    a = ap.parse_args()
    main(a.results, Path(a.out) if a.out else None)
