"""Figures of the sweep studies (``semlink figure cliff``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
