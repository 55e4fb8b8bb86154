"""Figures of the gan-c2f study (seed 001), from ``semlink rd --perceptual`` output:
``semlink figure gan-c2f-pd|gan-c2f-crops [results/gan-c2f-rd]``.

* ``gan-c2f-pd``: ``perception_distortion.png/.pdf``: mean PSNR (x) vs mean perceptual distance
  (y, lower = better) of every rate point, gan-c2f's points annotated with their mean bpp and
  layer split, the other codecs below 0.2 bpp for reference (the paper's perception-distortion
  trade-off), and ``operating_points.csv`` (the numbers behind it).
* ``gan-c2f-crops``: ``crops.png``: the same crop of one item decoded by gan-c2f at one rate
  point and by each classical codec at that rate (their own rate control), with bpp, PSNR and
  the perceptual distance under each.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from semlink.errors import ConfigError
from semlink.figures import register_figure
from semlink.results import load, new_figure, save, summarize
from semlink.tables import write_csv


def operating_points(df: pd.DataFrame) -> pd.DataFrame:
    """Mean bpp, PSNR, MS-SSIM and perceptual distance per (codec, rate point), sorted by codec and bpp."""
    by = ["codec", "param", "value"]
    out = None
    for m in ("bpp", "psnr_db", "ms_ssim", "perceptual"):
        s = summarize(df, by, m)
        if out is None:
            out = s[by].assign(n=s["n"])
        out[m] = s["mean"].to_numpy()
    return out.sort_values(["codec", "bpp"]).reset_index(drop=True)


def _rd(inputs: list[Path]) -> pd.DataFrame:
    df = load(inputs, expand=())
    if "perceptual" not in df.columns:
        raise ConfigError(f"{inputs[0]} has no perceptual column: run `semlink rd ... --perceptual auto`")
    return df


@register_figure("gan-c2f-pd", inputs=("results/gan-c2f-rd",), options={
    "below_bpp": (0.2, "other codecs' points below this rate are drawn")},
    summary="gan-c2f perception-distortion: mean PSNR vs perceptual distance per rate point "
            "(perception_distortion.png, operating_points.csv)")
def perception_distortion(inputs: list[Path], out: Path, below_bpp: float = 0.2) -> list[Path]:
    from semlink.codecs import get_codec

    df = _rd(inputs)
    pts = operating_points(df)
    write_csv(out / "operating_points.csv", pts.to_dict("records"), list(pts.columns), float_format=".6g")
    table = get_codec("gan-c2f").rate_table()
    fig = new_figure(figsize=(6.4, 4.6))
    ax = fig.subplots()
    for codec in dict.fromkeys(df["codec"]):
        cp = pts[(pts["codec"] == codec) & ((codec == "gan-c2f") | (pts["bpp"] < below_bpp))].sort_values("bpp")
        if cp.empty:
            continue
        gan = codec == "gan-c2f"
        ax.plot(cp["psnr_db"], cp["perceptual"], marker="o", ms=4, lw=2.0 if gan else 1.0, ls="-" if gan else ":",
                label=codec)
        if gan:
            for i, p in enumerate(cp.itertuples()):
                keep, e = table[int(p.value)]
                ax.annotate(f"q{p.value:g}: {p.bpp:.3f} bpp\nbase {keep}ch{'' if e is None else ' + enh'}",
                            (p.psnr_db, p.perceptual), fontsize=7, xytext=(-70 if i % 2 else 6, -24 if i % 2 else 6),
                            textcoords="offset points", arrowprops={"arrowstyle": "-", "lw": 0.5})
    ax.set_xlabel("PSNR [dB] (distortion: right is better)")
    ax.set_ylabel(f"{df['perceptual_metric'].iloc[0]} (perception: lower is better)")
    ax.set_title(f"perception-distortion, {df['dataset'].iloc[0]}: codecs below {below_bpp:g} bpp")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return [out / "operating_points.csv"] + save(fig, out / "perception_distortion", dpi=150)


@register_figure("gan-c2f-crops", inputs=("results/gan-c2f-rd",), codes=True, options={
    "item": ("rule", "the item whose crop is shown: 'rule' = the item of median perceptual distance of gan-c2f at "
                     "quality (rd.csv); or an item name"), "quality": (2, "gan-c2f rate point"),
    "crop": (192, "centre crop side [px]"), "codecs": ("heic,webp,jpeg2000,jpeg", "codecs coded at gan-c2f's rate")},
    summary="gan-c2f crops: one item decoded by gan-c2f and by the classical codecs at the same rate (crops.png)")
def crops(inputs: list[Path], out: Path, item: str = "rule", quality: int = 2, crop: int = 192,
          codecs: str = "heic,webp,jpeg2000,jpeg") -> list[Path]:
    from semlink.codecs import get_codec
    from semlink.data import get_dataset
    from semlink.simulator import metrics

    rd = _rd(inputs)
    dataset = str(rd["dataset"].iloc[0])
    why = "given by name"
    if item == "rule":
        from semlink.results import pick_examples

        at = rd[(rd["codec"] != "gan-c2f") | (rd["value"] == int(quality))]
        (p,) = pick_examples(at, "perceptual", "gan-c2f", rule=("median",), higher_is_better=False)
        item, why = p["item"], p["rule_text"]
    found = [i for i in get_dataset(dataset).items if i.name == item]
    if not found:
        raise ConfigError(f"item {item!r} is not in dataset {dataset!r}")
    x = found[0].data
    h, w = x.shape[:2]
    pm = metrics.perceptual_metric("auto")
    gan = get_codec("gan-c2f")
    enc = gan.encode(x, quality=int(quality))
    target = enc.num_bits / (h * w)
    panels = [("original", x, None), ("gan-c2f", gan.decode(enc).data, target)]
    for name in [c.strip() for c in str(codecs).split(",") if c.strip()]:
        c = get_codec(name)
        e = c.encode(x, bpp=target)
        panels.append((name, c.decode(e).data, e.num_bits / (h * w)))
    cs = min(int(crop), h, w)
    y0, x0 = (h - cs) // 2, (w - cs) // 2
    fig = new_figure(figsize=(2.4 * len(panels), 2.9))
    axes = fig.subplots(1, len(panels))
    for ax, (name, img, b) in zip(axes, panels):
        ax.imshow(img[y0 : y0 + cs, x0 : x0 + cs])
        ax.set_xticks([])
        ax.set_yticks([])
        if b is None:
            ax.set_title(name, fontsize=9)
        else:
            ax.set_title(f"{name}\n{b:.3f} bpp, {metrics.psnr(x, img):.1f} dB\n{pm.name} {pm(x, img):.3f}", fontsize=8)
    fig.suptitle(f"{item} ({why}): centre {cs}x{cs} crop; each codec at gan-c2f q{quality}'s rate (its own rate control)",
                 fontsize=9)
    fig.tight_layout()
    return save(fig, out / "crops", formats=("png",), dpi=150, palette=False)
