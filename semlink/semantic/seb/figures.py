"""Figures of the Seb study (seed 000, Figs. 4-6 and the ablations): ``semlink figure seb-...``.

* ``seb-fig4 [results/seb-fig4]``: ``summary.csv`` (per codec and SNR: mean PSNR / MS-SSIM with
  95 % intervals, mean bpp, the rate points sent, failed fraction) and ``fig4.png``, from a sweep
  of ``experiments/seb_fig4.toml`` (or ``seb_fig4_phy.toml``: ``semlink figure seb-fig4
  results/seb-fig4-phy``).
* ``seb-fig5 [results/seb-fig5]``: ``parts.csv`` and ``fig5.png``: the CBR of each Seb part for one
  image (eq. 11 per part: ``bpp_part / (3 log2(1 + SNR))`` at 5 dB) at the paper's four lambdas on
  the strong, weak and mixed subsets of the ``mixed`` dataset (each subset one set).
* ``seb-fig6 [results/seb-fig4] --out results/seb-fig6``: one clip frame and one photo as each
  codec delivers them over the ideal link at 5 dB (the rate points the fig-4 sweep sent there),
  and the Seb-only representation (Fig. 6(f)).
* ``seb-rd [results/seb-fig4]``: rate-distortion on the mixed set without a channel
  (``rd_mixed.csv``, ``rd_mixed.png``) with the grey-reference ablation, and BD-rates
  (``bd_rate_mixed.csv``) against the hyperprior and JPEG2000.
* ``seb-split [results/seb-fig5]``: the set-splitting ablation (``split_ablation.csv``/``.png``).

Figures 5, rd and split code the set themselves (:func:`semlink.evaluate.evaluate`) and write
what they plot to their CSV; with that CSV present they plot from it (``--recompute``: code again).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from semlink.errors import ConfigError
from semlink.figures import register_figure
from semlink.results import load, new_figure, save, summarize

ORDER = ["seb", "dvc-pair", "hyperprior", "jpeg2000"]
LABEL = {"seb": "Seb (proposed)", "dvc-pair": "DL w/ corr. (DVC pair)", "hyperprior": "DL w/o corr. (hyperprior)",
         "jpeg2000": "JPEG2000", "seb-grey-ref": "Seb ablation: grey reference (no Sebs)"}
RECOMPUTE = {"recompute": (False, "code the set again even when the figure's CSV exists")}


def _order(codecs) -> list[str]:
    codecs = set(codecs)
    return [c for c in ORDER if c in codecs] + sorted(codecs - set(ORDER))


def _size(df: pd.DataFrame) -> str:
    """Image size of a sweep table, from bits / bpp ("256x256" for a square)."""
    px = sorted({round(b / p) for b, p in zip(df["bits"], df["bpp"]) if p > 0 and np.isfinite(b)})
    if len(px) != 1:
        return "mixed sizes"
    side = math.isqrt(px[0])
    return f"{side}x{side}" if side * side == px[0] else f"{px[0]} px"


def _csv(table: pd.DataFrame, path: Path, float_format: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format=float_format)
    return path


# ----------------------------------------------------------------------------- Fig. 4
def fig4_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per codec and SNR: mean PSNR / MS-SSIM with 95 % half-widths, mean bpp, failed fraction,
    the rate points sent (``quality=3x31``) and n."""
    by = ["codec", "snr_db"]
    ps, ms, bpp = summarize(df, by, "psnr"), summarize(df, by, "ms_ssim"), summarize(df, by, "bpp")
    g = df.groupby(by, sort=True)
    failed = g["decoded_ok"].apply(lambda v: float(1 - v.astype(float).mean())).reset_index(drop=True)
    rates = g["rate"].apply(lambda v: " ".join(f"{k}x{n}" for k, n in v.value_counts().sort_index().items()))
    return pd.DataFrame({
        "codec": ps["codec"], "snr_db": ps["snr_db"], "psnr": ps["mean"], "psnr_ci95": ps["half_width"],
        "ms_ssim": ms["mean"], "ms_ssim_ci95": ms["half_width"], "bpp": bpp["mean"], "outage_or_failed": failed,
        "rates": rates.reset_index(drop=True), "n": ps["n"]})


@register_figure("seb-fig4", inputs=("results/seb-fig4",), summary="Seb Fig. 4: PSNR and MS-SSIM vs SNR per codec "
                 "(95 % intervals) + summary.csv, from a seb_fig4 sweep")
def fig4(inputs: list[Path], out: Path) -> list[Path]:
    df = load(inputs)
    s = fig4_summary(df)
    files = [_csv(s, out / "summary.csv", "%.4f")]
    fig = new_figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    for k, c in enumerate(_order(s["codec"])):
        t = s[s["codec"] == c].sort_values("snr_db")
        for ax, m in zip(axes, ("psnr", "ms_ssim")):
            ax.errorbar(t["snr_db"], t[m], yerr=t[m + "_ci95"], marker="os^dv"[k % 5], capsize=2, label=LABEL.get(c, c))
    for ax, lab in zip(axes, ("PSNR [dB]", "MS-SSIM")):
        ax.set_xlabel("SNR [dB]")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{df['item'].nunique()} images ({_size(df)}), {df['link'].iloc[0]}", fontsize=9)
    fig.tight_layout()
    return files + save(fig, out / "fig4", formats=("png",))


# ----------------------------------------------------------------------------- Fig. 5
SUBSETS = ("strong", "weak", "mixed")
PARTS = [("cbr_sebs", "Sebs"), ("cbr_usage", "usage"), ("cbr_header", "header"),
         ("cbr_motion", "compensation Z^m"), ("cbr_residual", "residual Z^r")]


def parts_table(snr_db: float = 5.0) -> pd.DataFrame:
    """Bits of each Seb part per pixel and as CBR at ``snr_db`` (eq. 11), per subset and paper lambda."""
    from semlink.codecs import get_codec
    from semlink.data import get_dataset
    from semlink.evaluate import evaluate
    from semlink.semantic.seb.model import LAMBDAS, PAPER_LEVELS

    cap = math.log2(1 + 10 ** (snr_db / 10))
    codec = get_codec("seb")
    out = []
    for subset in SUBSETS:
        ds = get_dataset("mixed", subset=subset)
        rows = evaluate(codec, ds, [{"quality": lv + 1} for lv in PAPER_LEVELS], decode=False)
        for lv in PAPER_LEVELS:
            rs = [r for r in rows if r["rate"] == f"quality={lv + 1}"]
            pix = sum(r["height"] * r["width"] for r in rs)
            bits: dict[str, float] = {}
            for r in rs:
                for k, b in r["bits_by_part"].items():
                    bits[k] = bits.get(k, 0.0) + b
            info = rs[0]["encode_info"]
            row = {"subset": subset, "lambda": LAMBDAS[lv], "quality": lv + 1, "images": len(rs),
                   "subsets_j": info["subsets"], "ks": " ".join(map(str, info["ks"]))}
            for k in ("header", "sebs", "usage", "motion_z", "motion_y", "residual"):
                row[f"bpp_{k}"] = round(bits.get(k, 0.0)) / pix
                row[f"cbr_{k}"] = row[f"bpp_{k}"] / (3 * cap)
            row["bpp_total"] = sum(round(b) for b in bits.values()) / pix
            row["cbr_total"] = row["bpp_total"] / (3 * cap)
            out.append(row)
    return pd.DataFrame(out)


def _table_csv(inputs: list[Path], out: Path, name: str, build, fmt: str, recompute: bool) -> tuple[Path, list[Path]]:
    """The committed table ``inputs[0]/name`` or, recomputed (``recompute`` or absent), ``out/name``;
    returns (its path, [the path when it was written now])."""
    csv = inputs[0] / name if inputs else out / name
    if recompute or not csv.is_file():
        csv = _csv(build(), out / name, fmt)
        return csv, [csv]
    return csv, []


@register_figure("seb-fig5", inputs=("results/seb-fig5",), options=dict(RECOMPUTE), codes=True,
                 summary="Seb Fig. 5: CBR of each part per subset and lambda (parts.csv, fig5.png)")
def fig5(inputs: list[Path], out: Path, recompute: bool = False) -> list[Path]:
    csv, files = _table_csv(inputs, out, "parts.csv", lambda: parts_table(), "%.6f", recompute)
    df = load(csv, expand=())
    df["cbr_motion"] = df["cbr_motion_z"] + df["cbr_motion_y"]
    fig = new_figure(figsize=(12, 3.6))
    axes = fig.subplots(1, 3, sharey=True)
    for ax, subset in zip(axes, SUBSETS):
        t = df[df["subset"] == subset]
        bottom = np.zeros(len(t))
        for col, lab in PARTS:
            ax.bar([f"{v:g}" for v in t["lambda"]], t[col], bottom=bottom, label=lab)
            bottom += t[col].to_numpy()
        ax.set_title(f"{subset} ({int(t['images'].iloc[0])} images)", fontsize=9)
        ax.set_xlabel("lambda")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("CBR per image at SNR 5 dB")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return files + save(fig, out / "fig5", formats=("png",))


# ----------------------------------------------------------------------------- Fig. 6
@register_figure("seb-fig6", inputs=("results/seb-fig4",), out="results/seb-fig6", codes=True, options={
    "snr_db": (10.0, "the SNR whose rows are shown (10 dB: the lowest where seb is sent under the per-image budget)"),
    "show": ("rule", "items shown: 'rule' = the worst, median and best item by the paired PSNR difference seb - "
                     "jpeg2000 at snr_db; or item names, comma-separated"),
    "spec": ("", "the spec file, when the results folder has no spec.toml")},
    summary="Seb Fig. 6: the fig-4 sweep's rows at one SNR replayed, reconstructions per codec (fig6.png)")
def fig6(inputs: list[Path], out: Path, snr_db: float = 10.0, show: str = "rule", spec: str = "") -> list[Path]:
    """Reconstructions of chosen items by every codec as the fig-4 sweep sent them at ``snr_db``
    (each a replayed row, checked against the table; an outage is the mid-grey image it decoded to),
    and the receiver's Seb-only reference image of the rate point seb sent."""
    from semlink.codecs import get_codec
    from semlink.data import get_dataset
    from semlink.sweep.replay import replay

    rows = load(inputs)
    rows = rows[(rows["snr_db"] == snr_db) & (rows["trial"] == 0)]
    if rows.empty:
        raise ConfigError(f"seb-fig6: no rows at {snr_db:g} dB in {', '.join(map(str, inputs))}")
    if show == "rule":
        from semlink.results import pick_examples

        picked = pick_examples(rows, "psnr", "seb", "jpeg2000")
        show_items = list(dict.fromkeys(p["item"] for p in picked))
        rule_text = picked[0]["rule_text"].replace("worst", "worst, median and best")
    else:
        show_items, rule_text = [s.strip() for s in str(show).split(",") if s.strip()], "items given by name"
    codecs = [c for c in ORDER if c in set(rows["codec"])]
    sel = rows[rows["item"].isin(show_items) & rows["codec"].isin(codecs)]
    got = {(r.row["item"], r.row["codec"]): r for r in replay(inputs[0], sel["key"], spec=spec or None)}
    seb_rows = rows[(rows["codec"] == "seb") & rows["rate_value"].notna()]
    q = int(seb_rows["rate_value"].iloc[0]) if len(seb_rows) else 1
    originals = [got[(n, codecs[0])].original for n in show_items]
    ds = get_dataset("mixed")  # the fig-4 set: the Sebs are made from all of its images
    names = [it.name for it in ds]
    all_refs = get_codec("seb").reference_images([it.data for it in ds], quality=q)
    refs = [all_refs[names.index(n)] for n in show_items]
    cols = ["original", *codecs, "Seb only"]
    fig = new_figure(figsize=(2.6 * len(cols), 2.9 * len(show_items)))
    axes = fig.subplots(len(show_items), len(cols), squeeze=False)
    for a, n in enumerate(show_items):
        panels = [(originals[a], n)]
        for c in codecs:
            r = got[(n, c)]
            state = "outage" if r.row["outage"] else f"{r.row['bpp']:.3f} bpp"
            flag = "" if r.matches is not False else " (differs from table)"
            panels.append((r.reconstruction, f"{LABEL.get(c, c)}\n{r.row['rate']}, {state}, {r.row['psnr']:.2f} dB{flag}"))
        mse = ((refs[a].astype(float) - originals[a]) ** 2).mean()
        panels.append((refs[a], f"Seb reference (quality {q})\n"
                                f"{10 * np.log10(255 ** 2 / mse):.2f} dB"))
        for b, (img, title) in enumerate(panels):
            axes[a][b].imshow(img)
            axes[a][b].set_title(title, fontsize=7)
            axes[a][b].axis("off")
    fig.suptitle(f"{rows['link'].iloc[0]}, SNR {snr_db:g} dB (the rows of the fig-4 sweep); rows: {rule_text}", fontsize=9)
    fig.tight_layout()
    return save(fig, out / "fig6", formats=("png",), dpi=80, palette=False)


# ----------------------------------------------------------------------------- RD on the mixed set
RD_CODECS = (("seb", {}, "quality", (1, 2, 3, 4, 5, 6)), ("dvc-pair", {}, "quality", (1, 2, 3, 4, 5, 6)),
             ("seb-grey-ref", {"reference": "grey"}, "quality", (1, 2, 3, 4, 5, 6)),
             ("hyperprior", {}, "quality", None),  # None: every shipped rate point
             ("jpeg2000", {}, "bpp", (0.1, 0.14, 0.2, 0.28, 0.4, 0.56, 0.8, 1.1)))


def rd_table(dataset: str = "mixed") -> pd.DataFrame:
    """Per codec and rate point: bpp (every bit of the set / every pixel), mean PSNR and MS-SSIM
    over the images (set codecs code the whole set of 31 jointly)."""
    from semlink.codecs import get_codec
    from semlink.evaluate import evaluate
    from semlink.results import frame

    rows = []
    for name, opts, key, values in RD_CODECS:
        codec = get_codec(name.replace("-grey-ref", ""), **opts)
        values = codec.rate_points() if values is None else values
        rows += [{**r, "codec": name} for r in evaluate(codec, dataset, [{key: v} for v in values])]
    return rd_means(frame(rows, expand=()))


def rd_means(df: pd.DataFrame) -> pd.DataFrame:
    """Mean RD point per (codec, rate): total bits / total pixels, mean PSNR and MS-SSIM."""
    df = df.assign(_px=df["bits"] / df["bpp"])
    by = ["codec", "rate"]
    ps, ms = summarize(df, by, "psnr"), summarize(df, by, "ms_ssim")
    g = df.groupby(by, sort=True)
    bpp = (g["bits"].sum() / g["_px"].sum()).reset_index(drop=True)
    out = pd.DataFrame({"codec": ps["codec"], "rate": ps["rate"], "bpp": bpp, "psnr": ps["mean"], "ms_ssim": ms["mean"]})
    order = {n: i for i, (n, *_) in enumerate(RD_CODECS)}
    return out.sort_values(["codec", "bpp"], key=lambda s: s.map(order) if s.name == "codec" else s).reset_index(drop=True)


def bd_table(rd: pd.DataFrame) -> pd.DataFrame:
    """BD-rates (PSNR; MS-SSIM in dB) of each codec against the hyperprior and JPEG2000."""
    from semlink.rd.bd import bd_rate
    from semlink.results import ms_ssim_db

    out = []
    for anchor in ("hyperprior", "jpeg2000"):
        a = rd[rd["codec"] == anchor].sort_values("bpp")
        for name in ("seb", "dvc-pair", "seb-grey-ref", "hyperprior", "jpeg2000"):
            if name == anchor:
                continue
            t = rd[rd["codec"] == name].sort_values("bpp")
            for metric in ("psnr", "ms_ssim_db"):
                fa = a["psnr"] if metric == "psnr" else ms_ssim_db(a["ms_ssim"])
                ft = t["psnr"] if metric == "psnr" else ms_ssim_db(t["ms_ssim"])
                v = bd_rate(a["bpp"].to_numpy(float), np.asarray(fa, float), t["bpp"].to_numpy(float),
                            np.asarray(ft, float), "pchip")
                out.append({"codec": name, "anchor": anchor, "metric": metric, "bd_rate_pct": v})
    return pd.DataFrame(out)


@register_figure("seb-rd", inputs=("results/seb-fig4",), options=dict(RECOMPUTE), codes=True,
                 summary="Seb RD on the mixed set (no channel) with the grey-reference ablation, BD-rates "
                         "(rd_mixed.csv/.png, bd_rate_mixed.csv)")
def rd(inputs: list[Path], out: Path, recompute: bool = False) -> list[Path]:
    csv, files = _table_csv(inputs, out, "rd_mixed.csv", lambda: rd_table(), "%.5f", recompute)
    df = load(csv, expand=())
    files.append(_csv(bd_table(df), out / "bd_rate_mixed.csv", "%.2f"))
    fig = new_figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    for k, name in enumerate(ORDER + ["seb-grey-ref"]):
        t = df[df["codec"] == name].sort_values("bpp")
        axes[0].plot(t["bpp"], t["psnr"], marker="os^dv"[k], label=LABEL[name])
        axes[1].plot(t["bpp"], t["ms_ssim"], marker="os^dv"[k], label=LABEL[name])
    for ax, lab in zip(axes, ("PSNR [dB]", "MS-SSIM")):
        ax.set_xlabel("bpp (every bit; set codecs: shared parts included)")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Mixed-like set (31 images, 256x256), no channel", fontsize=9)
    fig.tight_layout()
    return files + save(fig, out / "rd_mixed", formats=("png",))


# ----------------------------------------------------------------------------- set splitting
#: (split, projector) of the splitting ablation
SPLIT_VARIANTS = (("inertia", "imagenet"), ("inertia", "seb"), ("none", "imagenet"), (4, "imagenet"))


def split_table(dataset: str = "mixed") -> pd.DataFrame:
    """RD of seb on the mixed set (one set) per splitting rule and projector (eq. 1): inertia
    with the ImageNet VGG-16 projector (the default) and with the Seb generator's (v1), none
    (one subset), J = 4 (the number of sources)."""
    from semlink.codecs import get_codec
    from semlink.evaluate import evaluate
    from semlink.semantic.seb.model import LAMBDAS

    out = []
    for split, projector in SPLIT_VARIANTS:
        rows = evaluate(get_codec("seb", split=split, projector=projector), dataset, [{"quality": q} for q in (1, 3, 5)])
        for q in (1, 3, 5):
            rs = [r for r in rows if r["rate"] == f"quality={q}"]
            pix = sum(r["height"] * r["width"] for r in rs)
            info = rs[0]["encode_info"]
            subsets: dict[str, set] = {}
            for r in rs:
                subsets.setdefault(r["group"], set()).add(r["encode_info"]["subset"])
            out.append({"split": str(split), "projector": projector if split != "none" else "-", "quality": q, "lambda": LAMBDAS[q - 1], "subsets_j": info["subsets"],
                        "ks": " ".join(map(str, info["ks"])),
                        "bpp": sum(r["bits"] for r in rs) / pix, "shared_bpp": sum(r["shared_bits"] for r in rs) / pix,
                        "psnr_db": float(np.mean([r["psnr"] for r in rs])),
                        "ms_ssim": float(np.mean([r["ms_ssim"] for r in rs])),
                        "subset_of_each_source": json.dumps({g: sorted(s) for g, s in subsets.items()})})
    return pd.DataFrame(out)


@register_figure("seb-split", inputs=("results/seb-fig5",), options=dict(RECOMPUTE), codes=True,
                 summary="Seb set-splitting ablation: RD per splitting rule (split_ablation.csv/.png)")
def split_ablation(inputs: list[Path], out: Path, recompute: bool = False) -> list[Path]:
    csv, files = _table_csv(inputs, out, "split_ablation.csv", lambda: split_table(), "%.5f", recompute)
    df = load(csv, expand=())
    fig = new_figure(figsize=(5, 3.6))
    ax = fig.subplots()
    if "projector" not in df:  # a table made before the projector option
        df = df.assign(projector="seb")
    for k, ((split, projector), t) in enumerate(df.groupby(["split", "projector"], sort=False)):
        label = f"split = {split}" + ("" if projector == "-" else f", projector = {projector}")
        ax.plot(t["bpp"], t["psnr_db"], marker="os^D"[k % 4], label=label)
    ax.set_xlabel("bpp (every bit of the set)")
    ax.set_ylabel("PSNR [dB]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return files + save(fig, out / "split_ablation", formats=("png",))


__all__ = ["LABEL", "ORDER", "bd_table", "fig4_summary", "parts_table", "rd_means", "rd_table", "split_table"]
