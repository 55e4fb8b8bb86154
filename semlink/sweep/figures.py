"""Figures of the sweep studies: ``semlink figure cliff`` (the cliff study) and ``semlink figure
strip`` (reconstructions across SNR for items chosen by rule, any sweep)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from semlink.errors import ConfigError
from semlink.figures import register_figure
from semlink.results import facets, load, save, summarize
from semlink.results.schema import label


def cliff_modes(df: pd.DataFrame) -> pd.Series:
    """The transmission mode of each row: "ideal link (capacity)", or "<MCS>, <on_loss>" where the
    MCS is the fixed modulation and code rate ("QPSK 3/4") or "adaptive MCS"."""
    out = []
    for mode, mcs, mod, code, on_loss in zip(df["mode"], df.get("mcs", pd.Series("", index=df.index)).fillna(""),
                                             df["modulation"], df["code"], df["on_loss"].fillna("")):
        if mode == "ideal":
            out.append("ideal link (capacity)")
            continue
        fixed = f"{str(mod).upper()} {str(code).rsplit('-', 1)[-1]}"
        out.append(f"{'adaptive MCS' if mcs else fixed}, {on_loss or 'decode'}")
    return pd.Series(out, index=df.index, dtype="string")


def _style(mode: str) -> dict:
    if mode.startswith("ideal"):
        return {"color": "k", "linestyle": ":"}
    color = "C1" if mode.startswith("adaptive") else "C0"
    return {"color": color, "linestyle": "--" if mode.endswith("conceal") else "-"}


def _cbr(df: pd.DataFrame) -> str:
    vals = set()
    for c in ("cbr_target", "cbr_budget"):
        if c in df.columns:
            vals |= {f"{v:g}" for v in df[c].dropna()}
    return "/".join(sorted(vals)) or "?"


@register_figure("cliff", inputs=("results/cliff", "results/cliff_ideal"),
                 summary="the cliff study: one panel per codec, metric vs SNR per transmission mode (cliff_psnr.png)",
                 options={
    "metric": ("psnr", "quality metric on the y axis"), "ci": (False, "draw the 95 % bands")})
def cliff(inputs: list[Path], out: Path, metric: str = "psnr", ci: bool = False) -> list[Path]:
    """The cliff study: one panel per codec, metric vs SNR per transmission mode (fixed MCS + conceal /
    decode, link adaptation, ideal link at the same CBR); mean over items and realisations."""
    df = load(inputs)
    df = df.assign(_codec=df["codec"].astype(str).str.split().str[0], _mode=cliff_modes(df))
    fig, axes, cells = facets(df, col="_codec", panel=(4.2, 3.8))
    for (_, codec, sub), ax in zip(cells, axes.reshape(-1)):
        s = summarize(sub, ["_mode", "snr_db"], metric)
        for mode in sorted(s["_mode"].unique()):
            g = s[s["_mode"] == mode].sort_values("snr_db")
            line, = ax.plot(g["snr_db"], g["mean"], "o", ms=2.5, label=mode, **_style(mode))
            if ci:
                ax.fill_between(g["snr_db"], g["ci_low"], g["ci_high"], color=line.get_color(), alpha=0.15, lw=0)
        ax.set_title(codec, fontsize=10)
        ax.set_xlabel("SNR = Es/N0 per RE [dB]")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(label(metric))
    axes[0][0].legend(fontsize=7, loc="upper left")
    first = df.iloc[0]
    items = ", ".join(sorted(df["item"].unique()))
    fig.suptitle(f"{items} at CBR {_cbr(df)} over {str(first['channel']).upper()} "
                 f"({first['estimator'].upper()} + {first['equalizer'].upper()}): mean over images and realisations",
                 fontsize=9)
    fig.tight_layout()
    return save(fig, out / f"cliff_{metric}")


__all__ = ["cliff", "cliff_modes"]


def strip_snrs(df: pd.DataFrame, most: int = 6) -> list[float]:
    """The SNRs of a reconstruction strip: from the highest SNR where no row decodes to the lowest
    where every row does (the cliff), at most ``most`` of them evenly spread (ends kept)."""
    ok = df.groupby("snr_db")["decoded_ok"].mean().sort_index()
    snrs = [float(s) for s in ok.index]
    dead = [s for s in snrs if ok[s] == 0.0]
    clean = [s for s in snrs if ok[s] == 1.0]
    lo = max(dead) if dead else snrs[0]
    hi = min((s for s in clean if s >= lo), default=snrs[-1])
    span = [s for s in snrs if lo <= s <= hi] or snrs
    if len(span) > most:
        span = [span[int(round(i))] for i in np.linspace(0, len(span) - 1, most)]
    return span


@register_figure("strip", inputs=("results/quick",), codes=True,
                 summary="reconstructions per codec across SNR for items chosen by rule (strip_<rule>_<item>.png)",
                 options={
    "a": ("", "codec whose paired difference chooses the items (default: the table's first)"),
    "b": ("", "the codec it is compared with (default: the table's second; 'none': a alone)"),
    "metric": ("psnr", "the metric of the rule"),
    "rule": ("worst,median,best", "which items: worst / median / best by the paired difference"),
    "snrs": ("", "SNRs in dB, comma-separated (default: across the cliff, see strip_snrs)"),
    "trial": (0, "the channel realisation shown"),
    "spec": ("", "the spec file, when the folder has no spec.toml"),
})
def strip(inputs: list[Path], out: Path, a: str = "", b: str = "", metric: str = "psnr", rule: str = "worst,median,best",
          snrs: str = "", trial: int = 0, spec: str = "") -> list[Path]:
    """Reconstructions across SNR, one strip per item chosen by rule: a row per codec (all codecs at
    the table's rate, the original first), a column per SNR; every cell's title gives its metric,
    and each cell is a replayed row checked against the table (a mismatch is marked)."""
    from semlink.results import pick_examples
    from semlink.results.plots import new_figure
    from semlink.sweep.replay import replay

    if len(inputs) != 1:
        raise ConfigError("figure strip reads one sweep folder")
    df = load(inputs[0])
    codecs = list(dict.fromkeys(df["codec"].astype(str)))
    a = a or codecs[0]
    b = None if b == "none" or (not b and len(codecs) < 2) else (b or [c for c in codecs if c != a][0])
    picks = pick_examples(df, metric, a, b, rule=[w for w in rule.split(",") if w],
                          higher_is_better=metric not in ("st_lpips", "lpips", "lpips_vgg", "dists"))
    levels = [float(s) for s in snrs.split(",") if s.strip()] if snrs else strip_snrs(df)
    sel = df[df["trial"].astype(int) == int(trial)]
    files: list[Path] = []
    records = []
    for pick in picks:
        item = pick["item"]
        rows = sel[(sel["item"].astype(str) == item) & sel["snr_db"].astype(float).isin(levels)]
        if rows.empty:
            raise ConfigError(f"figure strip: no rows of item {item!r}, trial {trial} at SNR {levels}")
        got = {(r.row["codec"], float(r.row["snr_db"])): r for r in replay(inputs[0], rows["key"], spec=spec or None)}
        fig = new_figure(figsize=(1.9 * (len(levels) + 1), 2.0 * len(codecs) + 0.5))
        axes = np.asarray(fig.subplots(len(codecs), len(levels) + 1, squeeze=False))
        original = next(iter(got.values())).original
        for i, codec in enumerate(codecs):
            _show(axes[i, 0], original, "original" if i == 0 else "", codec)
            for j, snr in enumerate(levels):
                r = got.get((codec, snr))
                if r is None:
                    axes[i, j + 1].axis("off")
                    continue
                v = r.row.get(metric)
                title = f"{snr:g} dB: {v:.2f}" if isinstance(v, (int, float)) else f"{snr:g} dB"
                if r.matches is False:
                    title += " (differs from table)"
                _show(axes[i, j + 1], r.reconstruction, title)
                records.append({"figure": f"strip_{pick['rule']}_{item}", "key": r.key, "item": item, "codec": codec,
                                "snr_db": snr, "trial": int(trial), metric: v, "bpp": r.row.get("bpp"),
                                "decoded_ok": r.row.get("decoded_ok"), "matches_table": r.matches})
        fig.suptitle(f"{item}: {pick['rule_text']}; {metric} per cell, trial {trial}", fontsize=9)
        fig.tight_layout()
        files += save(fig, out / f"strip_{pick['rule']}_{item}", dpi=90, palette=False)
    csv = out / "strip.csv"
    pd.DataFrame(records).to_csv(csv, index=False)
    return [*files, csv]


def _show(ax, image: np.ndarray, title: str, ylabel: str = "") -> None:
    img = image[image.shape[0] // 2] if image.ndim == 4 else image  # a clip: its middle frame
    ax.imshow(img, interpolation="lanczos")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=7)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=8)
