"""Figures and tables of the Seb experiments (seed 000, Figs. 4-6).

    python scripts/plot_seb.py fig4 [results/seb-fig4]        # after `semlink sweep experiments/seb_fig4.toml`
    python scripts/plot_seb.py fig4 results/seb-fig4-phy      # the explicit-link extension
    python scripts/plot_seb.py fig5 [results/seb-fig5]        # codes the subsets itself (no link needed)
    python scripts/plot_seb.py fig6 [results/seb-fig6]        # needs results/seb-fig4 (the rates chosen at 5 dB)
    python scripts/plot_seb.py split [results/seb-fig5]       # set-splitting ablation (no link)
    python scripts/plot_seb.py rd [results/seb-fig4]          # RD + BD-rates on the mixed set (no link)

fig4: ``summary.csv`` (per codec and SNR: mean PSNR / MS-SSIM over the images with 95 % t intervals,
mean bpp, the rate points sent, outage fraction) and ``fig4.png`` (PSNR and MS-SSIM vs SNR).

fig5: ``parts.csv`` and ``fig5.png``: the CBR of each Seb part for one image (eq. 11 per part:
``bpp_part / (3 log2(1 + SNR))`` at SNR = 5 dB) at the paper's four lambdas (levels 3..6) on the
strongly correlated, weakly correlated and mixed subsets of the ``mixed`` dataset (each subset one set).

fig6: ``fig6.png``: one clip frame and one photo of the mixed set as each codec delivers them over the
ideal link at 5 dB (CBR 1/30), and the Seb-only representation (the reference image, Fig. 6(f)).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

ORDER = ["seb", "dvc-pair", "hyperprior", "jpeg2000"]
LABEL = {"seb": "Seb (proposed)", "dvc-pair": "DL w/ corr. (DVC pair)", "hyperprior": "DL w/o corr. (hyperprior)",
         "jpeg2000": "JPEG2000", "seb-grey-ref": "Seb ablation: grey reference (no Sebs)"}


def _ci(x: pd.Series) -> float:
    x = x.dropna()
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def _rows(d: Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in (d / "rows.jsonl").read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows)


def fig4(d: Path) -> None:
    df = _rows(d)
    g = df.groupby(["codec", "snr_db"])
    s = pd.DataFrame({
        "psnr": g.psnr.mean(), "psnr_ci95": g.psnr.apply(_ci),
        "ms_ssim": g.ms_ssim.mean(), "ms_ssim_ci95": g.ms_ssim.apply(_ci),
        "bpp": g.bpp.mean(), "outage_or_failed": g.decoded_ok.apply(lambda v: float(1 - v.mean())),
        "rates": g.rate.apply(lambda v: " ".join(f"{k}x{n}" for k, n in v.value_counts().sort_index().items())),
        "n": g.psnr.count()}).reset_index()
    s.to_csv(d / "summary.csv", index=False, float_format="%.4f")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    codecs = [c for c in ORDER if c in set(s.codec)] + sorted(set(s.codec) - set(ORDER))
    for k, c in enumerate(codecs):
        t = s[s.codec == c].sort_values("snr_db")
        for ax, m in zip(axes, ("psnr", "ms_ssim")):
            ax.errorbar(t.snr_db, t[m], yerr=t[m + "_ci95"], marker="os^dv"[k % 5], capsize=2, label=LABEL.get(c, c))
    link = df["link"].iloc[0]
    for ax, lab in zip(axes, ("PSNR [dB]", "MS-SSIM")):
        ax.set_xlabel("SNR [dB]")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Mixed-like set (31 images, 256x256), {link}", fontsize=9)
    fig.tight_layout()
    fig.savefig(d / "fig4.png", dpi=130)
    plt.close(fig)
    print((d / "summary.csv").read_text())


def fig5(d: Path) -> None:
    from semlink.codecs import get_codec
    from semlink.data import get_dataset
    from semlink.semantic.seb.model import LAMBDAS, PAPER_LEVELS

    d.mkdir(parents=True, exist_ok=True)
    snr = 5.0
    cap = math.log2(1 + 10 ** (snr / 10))
    codec = get_codec("seb")
    out = []
    for subset in ("strong", "weak", "mixed"):
        items = [it.data for it in get_dataset("mixed", subset=subset)]
        pix = sum(x.shape[0] * x.shape[1] for x in items)
        for lv in PAPER_LEVELS:
            es = codec.encode_set(items, quality=lv + 1)
            bits = {k: 8 * len(v) for k, v in es.shared.items()}
            for k in ("motion_z", "motion_y", "residual"):
                bits[k] = sum(8 * len(e.parts[k]) for e in es.items)
            row = {"subset": subset, "lambda": LAMBDAS[lv], "quality": lv + 1, "images": len(items),
                   "subsets_j": es.info["subsets"], "ks": " ".join(map(str, es.info["ks"]))}
            for k, b in bits.items():
                row[f"bpp_{k}"] = b / pix
                row[f"cbr_{k}"] = b / pix / (3 * cap)
            row["bpp_total"] = sum(bits.values()) / pix
            row["cbr_total"] = row["bpp_total"] / (3 * cap)
            out.append(row)
            print(subset, LAMBDAS[lv], {k: round(v, 5) for k, v in row.items() if k.startswith("cbr_")}, flush=True)
    df = pd.DataFrame(out)
    df.to_csv(d / "parts.csv", index=False, float_format="%.6f")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    parts = [("cbr_sebs", "Sebs"), ("cbr_usage", "usage"), ("cbr_header", "header"),
             ("cbr_motion", "compensation Z^m"), ("cbr_residual", "residual Z^r")]
    df["cbr_motion"] = df.cbr_motion_z + df.cbr_motion_y
    for ax, subset in zip(axes, ("strong", "weak", "mixed")):
        t = df[df.subset == subset]
        bottom = np.zeros(len(t))
        for col, lab in parts:
            ax.bar([str(v) for v in t["lambda"]], t[col], bottom=bottom, label=lab)
            bottom += t[col].to_numpy()
        ax.set_title(f"{subset} ({int(t.images.iloc[0])} images)", fontsize=9)
        ax.set_xlabel("lambda")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("CBR per image at SNR 5 dB")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(d / "fig5.png", dpi=130)
    plt.close(fig)


def fig6(d: Path, fig4_dir: Path = Path("results/seb-fig4")) -> None:
    from semlink.codecs import get_codec
    from semlink.data import get_dataset

    d.mkdir(parents=True, exist_ok=True)
    rows = _rows(fig4_dir)
    rows = rows[rows.snr_db == 5]
    ds = get_dataset("mixed")
    items = [it.data for it in ds]
    names = [it.name for it in ds]
    show = ["bigbuckbunny/f012", "photos/coffee"]
    recon: dict[str, dict[str, tuple[np.ndarray, str]]] = {n: {} for n in show}
    for c in ORDER:
        r = rows[rows.codec == c]
        if r.empty:
            continue
        codec = get_codec(c)
        if c in ("seb", "dvc-pair"):
            rate = r.rate.iloc[0]
            key, val = rate.split("=")
            recs = codec.decode_set(codec.encode_set(items, **{key: float(val) if "." in val else int(val)}))
            lost = not bool(r.decoded_ok.all())
            for n in show:
                i = names.index(n)
                row = r[r["item"] == n].iloc[0]
                recon[n][c] = (recs[i].data if not lost else np.full_like(items[i], 128),
                               f"{rate}, {row.bpp:.3f} bpp, {row.psnr:.2f} dB")
        else:
            for n in show:
                i = names.index(n)
                row = r[r["item"] == n].iloc[0]
                key, val = row.rate.split("=")
                rec = codec.decode(codec.encode(items[i], **{key: float(val)}))
                recon[n][c] = (rec.data if row.decoded_ok else np.full_like(items[i], 128),
                               f"{row.rate}, {row.bpp:.3f} bpp, {row.psnr:.2f} dB")
    seb = get_codec("seb")
    r = rows[rows.codec == "seb"]
    q = int(r.rate.iloc[0].split("=")[1])
    refs = seb.reference_images(items, quality=q)
    cols = ["original"] + [c for c in ORDER if c in recon[show[0]]] + ["Seb only"]
    fig, axes = plt.subplots(len(show), len(cols), figsize=(2.6 * len(cols), 2.9 * len(show)), squeeze=False)
    for a, n in enumerate(show):
        i = names.index(n)
        panels = [(items[i], n)] + [(recon[n][c][0], f"{LABEL[c]}\n{recon[n][c][1]}") for c in cols[1:-1]]
        mse = ((refs[i].astype(float) - items[i]) ** 2).mean()
        panels.append((refs[i], f"Seb reference (quality {q})\n{10 * np.log10(255 ** 2 / mse):.2f} dB"))
        for b, (img, title) in enumerate(panels):
            axes[a][b].imshow(img)
            axes[a][b].set_title(title, fontsize=7)
            axes[a][b].axis("off")
    fig.suptitle("Ideal link, CBR 1/30, SNR 5 dB (the rate each codec sends there)", fontsize=9)
    fig.tight_layout()
    fig.savefig(d / "fig6.png", dpi=80)
    plt.close(fig)


def rd(d: Path) -> None:
    """Rate-distortion on the mixed set without a channel (every bit counted): seb, dvc-pair and seb
    with a grey reference instead of the Sebs' (what the Sebs add) per rate level (the whole set of 31), hyperprior per quality and JPEG2000 per bpp target (mean over
    the images), and BD-rates (PSNR, MS-SSIM in dB) of each codec against the hyperprior and JPEG2000."""
    import bjontegaard as bd

    from semlink.codecs import get_codec
    from semlink.data import get_dataset
    from semlink.semantic.seb.model import LAMBDAS
    from semlink.simulator import metrics

    d.mkdir(parents=True, exist_ok=True)
    items = [it.data for it in get_dataset("mixed")]
    pix = sum(x.shape[0] * x.shape[1] for x in items)
    rows = []

    def add(codec, rate, bits, recs):
        rows.append({"codec": codec, "rate": rate, "bpp": bits / pix,
                     "psnr": float(np.mean([metrics.psnr(a, b) for a, b in zip(items, recs)])),
                     "ms_ssim": float(np.mean([metrics.ms_ssim(a, b) for a, b in zip(items, recs)]))})
        print(rows[-1], flush=True)

    for name, opts in (("seb", {}), ("dvc-pair", {}), ("seb-grey-ref", {"reference": "grey"})):
        c = get_codec(name.replace("-grey-ref", ""), **opts)
        for q in range(1, len(LAMBDAS) + 1):
            es = c.encode_set(items, quality=q)
            add(name, f"quality={q}", es.num_bits, [r.data for r in c.decode_set(es)])
    for name, key, values in (("hyperprior", "quality", [1, 2, 3, 4]),
                              ("jpeg2000", "bpp", [0.1, 0.14, 0.2, 0.28, 0.4, 0.56, 0.8, 1.1])):
        c = get_codec(name)
        for v in values:
            encs = [c.encode(x, **{key: v}) for x in items]
            add(name, f"{key}={v}", sum(e.num_bits for e in encs), [c.decode(e).data for e in encs])
    df = pd.DataFrame(rows)
    df.to_csv(d / "rd_mixed.csv", index=False, float_format="%.5f")
    out = []
    for anchor in ("hyperprior", "jpeg2000"):
        a = df[df.codec == anchor].sort_values("bpp")
        for name in ("seb", "dvc-pair", "seb-grey-ref", "hyperprior", "jpeg2000"):
            if name == anchor:
                continue
            t = df[df.codec == name].sort_values("bpp")
            for metric in ("psnr", "ms_ssim"):
                fa = a[metric] if metric == "psnr" else -10 * np.log10(1 - a[metric])
                ft = t[metric] if metric == "psnr" else -10 * np.log10(1 - t[metric])
                try:
                    v = bd.bd_rate(a.bpp.to_numpy(), fa.to_numpy(), t.bpp.to_numpy(), ft.to_numpy(), method="pchip",
                                   require_matching_points=False)
                except Exception as exc:  # noqa: BLE001 - no overlap of the curves
                    v = float("nan")
                    print(name, anchor, metric, "no BD-rate:", exc)
                out.append({"codec": name, "anchor": anchor, "metric": metric if metric == "psnr" else "ms_ssim_db",
                            "bd_rate_pct": v})
    pd.DataFrame(out).to_csv(d / "bd_rate_mixed.csv", index=False, float_format="%.2f")
    print(pd.DataFrame(out).to_string())
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for k, name in enumerate(ORDER + ["seb-grey-ref"]):
        t = df[df.codec == name].sort_values("bpp")
        axes[0].plot(t.bpp, t.psnr, marker="os^dv"[k], label=LABEL[name])
        axes[1].plot(t.bpp, t.ms_ssim, marker="os^dv"[k], label=LABEL[name])
    for ax, lab in zip(axes, ("PSNR [dB]", "MS-SSIM")):
        ax.set_xlabel("bpp (every bit; set codecs: shared parts included)")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Mixed-like set (31 images, 256x256), no channel", fontsize=9)
    fig.tight_layout()
    fig.savefig(d / "rd_mixed.png", dpi=130)
    plt.close(fig)


def split_ablation(d: Path) -> None:
    """RD of seb on the mixed set (one set of 31, no channel) with set splitting by the inertia rule,
    without splitting, and with J = 4 (the number of sources: 3 clips + photos)."""
    from semlink.codecs import get_codec
    from semlink.data import get_dataset
    from semlink.semantic.seb.model import LAMBDAS
    from semlink.simulator import metrics

    d.mkdir(parents=True, exist_ok=True)
    items = [it.data for it in get_dataset("mixed")]
    groups = [it.group for it in get_dataset("mixed")]
    pix = sum(x.shape[0] * x.shape[1] for x in items)
    out = []
    for split in ("inertia", "none", 4):
        codec = get_codec("seb", split=split)
        for q in (1, 3, 5):
            es = codec.encode_set(items, quality=q)
            recs = codec.decode_set(es)
            hdr_subsets = [e.info["subset"] for e in es.items]
            out.append({"split": str(split), "quality": q, "lambda": LAMBDAS[q - 1], "subsets_j": es.info["subsets"],
                        "ks": " ".join(map(str, es.info["ks"])),
                        "bpp": es.num_bits / pix, "shared_bpp": es.shared_bits / pix,
                        "psnr_db": float(np.mean([metrics.psnr(a, b.data) for a, b in zip(items, recs)])),
                        "ms_ssim": float(np.mean([metrics.ms_ssim(a, b.data) for a, b in zip(items, recs)])),
                        "subset_of_each_source": json.dumps({g: sorted({s for s, gg in zip(hdr_subsets, groups) if gg == g})
                                                             for g in dict.fromkeys(groups)})})
            print(out[-1], flush=True)
    df = pd.DataFrame(out)
    df.to_csv(d / "split_ablation.csv", index=False, float_format="%.5f")
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for k, (split, t) in enumerate(df.groupby("split", sort=False)):
        ax.plot(t.bpp, t.psnr_db, marker="os^"[k % 3], label=f"split = {split}")
    ax.set_xlabel("bpp (every bit of the set)")
    ax.set_ylabel("PSNR [dB]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(d / "split_ablation.png", dpi=130)
    plt.close(fig)


def main(args: list[str]) -> None:
    what = args[0] if args else "fig4"
    if what == "fig4":
        fig4(Path(args[1] if len(args) > 1 else "results/seb-fig4"))
    elif what == "fig5":
        fig5(Path(args[1] if len(args) > 1 else "results/seb-fig5"))
    elif what == "fig6":
        fig6(Path(args[1] if len(args) > 1 else "results/seb-fig6"))
    elif what == "rd":
        rd(Path(args[1] if len(args) > 1 else "results/seb-fig4"))
    elif what == "split":
        split_ablation(Path(args[1] if len(args) > 1 else "results/seb-fig5"))
    else:
        raise SystemExit(f"unknown figure {what!r}: fig4 | fig5 | fig6 | split | rd")


if __name__ == "__main__":
    main(sys.argv[1:])
