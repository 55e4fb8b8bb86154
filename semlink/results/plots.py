"""Plots of result tables (DataFrames from :func:`semlink.results.load`).

Every function draws into ``ax=`` when given (an Axes, or for a faceted plot an array of Axes
of the facet grid's shape) and otherwise creates its own :class:`matplotlib.figure.Figure`
(not registered with pyplot: no backend is chosen, no global state changes; in a notebook the
returned figure displays itself). Each returns the Figure it drew on. :func:`save` writes a
figure as PNG and PDF. No function here calls ``matplotlib.use`` or changes ``rcParams``.

Faceting: ``row=`` / ``col=`` name columns of the table; one panel per value (sorted), sharing
the y axis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing matplotlib here would slow every import
    from matplotlib.figure import Figure

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from semlink.errors import ConfigError

from .schema import LOWER_IS_BETTER, PERCEPTUAL, label, ms_ssim_from_db
from .stats import summarize

LOG_METRICS = {"ber", "bler", "raw_ber"}
Hue = str | Sequence[str] | Callable[[pd.DataFrame], pd.Series] | None


# ----------------------------------------------------------------------------- figures and facets
def new_figure(figsize=(6.4, 4.8), **kwargs):
    """A Figure outside pyplot (no backend, no global state)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, **kwargs)


def save(fig, stem: str | Path, formats: Sequence[str] = ("png", "pdf"), dpi: int = 130, palette: bool = True) -> list[Path]:
    """Write ``fig`` to ``stem.png`` and ``stem.pdf`` (folders created). Returns the paths.

    ``palette``: the PNG is stored with a 256-colour palette (a third of the bytes of a chart;
    lines, markers and text look the same). Figures that show reconstructions pass False: their
    pixels are the result and stay as rendered."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(f".{ext}") for ext in formats]
    for p in paths:
        if p.suffix == ".png" and palette:
            png_palette(fig, p, dpi)
        else:
            fig.savefig(p, dpi=dpi)
    return paths


def png_palette(fig, path: Path, dpi: int) -> None:
    """``fig`` rendered at ``dpi`` and written to ``path`` as a 256-colour palette PNG."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    buf.seek(0)
    with Image.open(buf) as im:
        im.convert("RGB").quantize(256).save(path, format="PNG", optimize=True)


def facets(df: pd.DataFrame, row: str | None = None, col: str | None = None, ax=None,
           panel: tuple[float, float] = (4.2, 3.2), sharey: bool = True, figsize=None):
    """The facet grid of ``df``: ``(figure, axes [n_rows][n_cols], [(row value, col value, sub-table), ...])``.

    ``ax``: an Axes (no facets) or an array of Axes of the grid's shape to draw into; None
    creates a figure of ``panel`` inches per panel (or ``figsize``).
    """
    rows = _levels(df, row)
    cols = _levels(df, col)
    if ax is None:
        fig = new_figure(figsize=figsize or (panel[0] * len(cols), panel[1] * len(rows)))
        axes = np.asarray(fig.subplots(len(rows), len(cols), squeeze=False, sharey=sharey))
    else:
        axes = np.asarray(ax, dtype=object).reshape(-1)
        if axes.size != len(rows) * len(cols):
            raise ConfigError(f"ax= holds {axes.size} axes; the facets need {len(rows)} x {len(cols)}")
        axes = axes.reshape(len(rows), len(cols))
        fig = axes[0][0].figure
    cells = []
    for i, rv in enumerate(rows):
        for j, cv in enumerate(cols):
            m = np.ones(len(df), bool)
            if row is not None:
                m &= (df[row] == rv).fillna(False).to_numpy(bool)
            if col is not None:
                m &= (df[col] == cv).fillna(False).to_numpy(bool)
            cells.append((rv, cv, df[m]))
    return fig, axes, cells


def _levels(df, name):
    if name is None:
        return [None]
    if name not in df.columns:
        raise ConfigError(f"facet column {name!r} is not in the results", allowed=list(df.columns)[:60])
    return sorted(df[name].dropna().unique().tolist())


def _own_axes(ax, figsize):
    if ax is None:
        fig = new_figure(figsize=figsize)
        return fig, fig.subplots(), True
    return ax.figure, ax, False


# ----------------------------------------------------------------------------- labels
def series_labels(df: pd.DataFrame, hue: Hue = None) -> pd.Series:
    """One label per row: ``hue`` (a column, several columns joined by ", ", or a function of
    the table). Default (sweep tables): "codec (rate target)", plus " | link" when the table
    holds several links."""
    if callable(hue):
        return pd.Series(hue(df), index=df.index).astype(str)
    if hue is None:
        rate = df["rate_target"] if "rate_target" in df.columns else df.get("rate", pd.Series("", index=df.index))
        lab = df["codec"].astype(str) + " (" + rate.astype(str) + ")"
        if "link" in df.columns and df["link"].nunique(dropna=False) > 1:
            lab = lab + " | " + df["link"].astype(str)
        return lab
    cols = [hue] if isinstance(hue, str) else list(hue)
    out = df[cols[0]].astype(str)
    for c in cols[1:]:
        out = out + ", " + df[c].astype(str)
    return out


def sweep_title(df: pd.DataFrame) -> str:
    """The links of a sweep table and each codec's mean channel bandwidth ratio."""
    links = sorted({str(v) for v in df.get("link", pd.Series([""])).fillna("")})
    cbr = df["cbr"] if "cbr" in df.columns else pd.Series(np.nan, index=df.index)
    if "cbr_budget" in df.columns and "mode" in df.columns:
        cbr = cbr.where(df["mode"] == "phy", df["cbr_budget"])
    parts = [f"{c} CBR {np.nanmean(v.to_numpy(float)) if v.notna().any() else math.nan:.4f}"
             for c, v in sorted(cbr.groupby(df["codec"].astype(str)), key=lambda t: t[0])]
    head = "; ".join(links) if len(links) <= 2 else f"{len(links)} link configs"
    return f"{head}\n{', '.join(parts)}"


# ----------------------------------------------------------------------------- metric vs x
def plot_vs(df: pd.DataFrame, y: str, *, x: str = "snr_db", hue: Hue = None, row: str | None = None,
            col: str | None = None, ci: bool = True, log: bool | None = None, ax=None, title: str | None = None,
            level: float = 0.95, inf: str | float = "drop", legend: bool = True, marker: str = "o-",
            ms: float = 3, styles: dict | None = None, order: Sequence[str] | None = None) -> "Figure":
    """``y`` against ``x``: per series (``hue``), the mean over the rows of each ``x`` value with
    its ``level`` confidence band (:func:`semlink.results.summarize`; infinite values per
    ``inf``). ``log`` (default: for BER/BLER) draws a log y axis. ``styles``: label -> dict of
    matplotlib line properties; ``order``: the legend order (default: sorted labels).
    """
    if y not in df.columns:
        avail = sorted(c for c in df.columns if c in {"psnr", "ms_ssim", *PERCEPTUAL, *LOG_METRICS})
        raise ConfigError(f"metric={y!r} is not in the results; available: {', '.join(avail)}")
    log = (y in LOG_METRICS) if log is None else log
    fig, axes, cells = facets(df, row, col, ax)
    for k, ((rv, cv, sub), a) in enumerate(zip(cells, axes.reshape(-1))):
        _draw_series(a, sub, x, y, hue, ci=ci, log=log, level=level, inf=inf, marker=marker, ms=ms,
                     styles=styles or {}, order=order)
        a.set_xlabel(label(x))
        if k % axes.shape[1] == 0:
            a.set_ylabel(label(y))
        a.grid(True, which="both", alpha=0.3)
        head = ", ".join(f"{v}" for v in (rv, cv) if v is not None)
        if head:
            a.set_title(head, fontsize=9)
    if legend:
        place_legend(axes[0][0], own=ax is None)
    if title is not None:
        if row or col:
            fig.suptitle(wrap_title(title, fig.get_figwidth(), 9), fontsize=9)
        else:
            axes[0][0].set_title(wrap_title(title, fig.get_figwidth(), 8), fontsize=8)
    if ax is None:
        fig.tight_layout()
    return fig


#: a legend with more entries than this goes below the axes (it would cover the curves)
LEGEND_INSIDE_MAX = 4


def place_legend(a, own: bool, fontsize: float = 7.5) -> None:
    """The legend of Axes ``a``: inside (``loc="best"``) up to :data:`LEGEND_INSIDE_MAX`
    entries, else below the axes in up to two columns; ``own``: the figure is ours, so it grows
    by the legend's height instead of shrinking the plot."""
    handles, labels = a.get_legend_handles_labels()
    if not handles:
        return
    if len(handles) <= LEGEND_INSIDE_MAX:
        a.legend(fontsize=fontsize)
        return
    longest = max(len(t) for t in labels)
    fig = a.figure
    ncol = 2 if longest * fontsize * 0.55 / 72 < fig.get_figwidth() / 2 - 0.3 else 1
    rows = -(-len(handles) // ncol)
    a.legend(fontsize=fontsize, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol, frameon=False)
    if own:  # taller by the legend's rows, wider if its longest label needs it
        w, h = fig.get_size_inches()
        need = ncol * (longest * fontsize * 0.55 / 72 + 0.5) + 0.4
        fig.set_size_inches(max(w, need), h + rows * fontsize * 1.45 / 72 + 0.2)


def wrap_title(text: str, width_in: float, fontsize: float) -> str:
    """``text`` with each line wrapped to fit a figure ``width_in`` inches wide at ``fontsize`` pt."""
    import textwrap

    chars = max(20, int(width_in * 72 / (fontsize * 0.56)))
    return "\n".join(textwrap.fill(line, chars, break_on_hyphens=False) for line in text.split("\n"))


def _draw_series(a, df, x, y, hue, *, ci, log, level, inf, marker, ms, styles, order):
    if df.empty:
        return
    t = df.assign(_series=series_labels(df, hue).to_numpy())
    s = summarize(t, ["_series", x], y, level=level, inf=inf)
    names = list(order) if order is not None else sorted(s["_series"].unique())
    names = [n for n in names if n in set(s["_series"])]
    positive = False
    for i, name in enumerate(names):
        g = s[s["_series"] == name].sort_values(x)
        xs, m = g[x].to_numpy(float), g["mean"].to_numpy(float)
        half = g["half_width"].to_numpy(float)
        if ci:
            half = np.where(np.isnan(half), 0.0, half)
        if log:
            m = np.where(m > 0, m, np.nan)
            positive |= bool(np.any(m > 0))
        style = styles.get(name) or ({"linestyle": ("-", "--", ":")[(i // 10) % 3]} if len(names) > 10 else {})
        line, = a.plot(xs, m, marker, ms=ms, label=name, **style)  # past 10 series the colours repeat: dashes
        if ci:
            lo = m - half
            if log:
                lo = np.where(lo > 0, lo, np.nanmin(m[m > 0]) / 10 if np.any(m > 0) else 1e-9)
            a.fill_between(xs, lo, m + half, color=line.get_color(), alpha=0.2, lw=0)
    if log:
        if positive:
            a.set_yscale("log")
        else:
            a.text(0.5, 0.5, "no errors observed", transform=a.transAxes, ha="center")


def plot_metric(df: pd.DataFrame, metric: str, *, ax=None, row: str | None = None, col: str | None = None,
                hue: Hue = None) -> "Figure":
    """The sweep's standard plot: ``metric`` vs SNR, one line per codec/rate (and link), 95 %
    band, the links and CBRs as title (``semlink plot``, ``semlink sweep``)."""
    if metric not in df.columns:
        avail = sorted(c for c in df.columns if c in {"psnr", "ms_ssim", *PERCEPTUAL, *LOG_METRICS})
        raise ConfigError(f"metric={metric!r} is not in the results; available: {', '.join(avail)}")
    own = ax is None
    if own and row is None and col is None:
        fig = new_figure(figsize=(6.6, 4.6))
        ax = fig.subplots()
    fig = plot_vs(df, metric, hue=hue, ax=ax, row=row, col=col, title=sweep_title(df), legend=False)
    place_legend(fig.axes[0], own=own)
    if own:
        fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- rate breakdown
def plot_rate_breakdown(df: pd.DataFrame, *, ax=None) -> "Figure":
    """Stacked bars of the mean transmitted kbit per part, per codec and rate (one bar per SNR
    for channel-adaptive codecs, whose coding depends on it; an encoding is counted once)."""
    parts = [c for c in df.columns if c.startswith("bits_by_part.")]
    if not parts:
        raise ConfigError("no bits_by_part column in the results")
    adaptive = df["channel_adaptive"].fillna(False).astype(bool) if "channel_adaptive" in df.columns \
        else pd.Series(False, index=df.index)
    rate = df["rate"].astype(str) if "rate" in df.columns else pd.Series("None", index=df.index)
    snr = pd.Series([f"\n{v:g} dB" if a else "" for v, a in zip(df["snr_db"].astype(float), adaptive)], index=df.index) \
        if "snr_db" in df.columns else pd.Series("", index=df.index)
    t = df.assign(_label=df["codec"].astype(str) + "\n" + rate + snr, _rate=rate, _snr=snr)
    t = t.drop_duplicates(["codec", "_rate", "item", "_snr"])
    labels = sorted(t["_label"].unique())
    names = sorted(p.split(".", 1)[1] for p in parts if t[p].notna().any())
    fig, a, own = _own_axes(ax, (max(4.0, 1.2 * len(labels) + 2), 4.2))
    bottom = np.zeros(len(labels))
    means = t.groupby("_label")[[f"bits_by_part.{p}" for p in names]].mean()
    for p in names:
        vals = np.array([means.loc[lab, f"bits_by_part.{p}"] / 1e3 for lab in labels])
        vals = np.where(np.isnan(vals), 0.0, vals)
        a.bar(labels, vals, bottom=bottom, label=p)
        bottom += vals
    a.set_ylabel("transmitted kbit per item (mean over items)")
    a.set_title("rate breakdown by part (every transmitted bit)", fontsize=9)
    a.legend(fontsize=8)
    a.tick_params(axis="x", labelsize=7)
    if own:
        fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- link adaptation
def plot_mcs(df: pd.DataFrame, *, ax=None) -> "Figure":
    """The MCS link adaptation chose at each SNR (information bits per resource element; 0 = outage)."""
    from semlink.phy.mcs import info_bits_per_symbol

    if "mcs" not in df.columns or not (df["mcs"].fillna("") != "").any():
        raise ConfigError("no mcs column in the results (no link adaptation)")
    t = df[df["mcs"].fillna("") != ""]
    per: dict[str, dict[float, str]] = {}
    links = t["link"].fillna("").astype(str) if "link" in t.columns else pd.Series("", index=t.index)
    for link, snr, mcs in zip(links, t["snr_db"].astype(float), t["mcs"].astype(str)):
        per.setdefault(link, {})[snr] = mcs
    fig, a, own = _own_axes(ax, (6.4, 3.2))
    names = set()
    for link, pts in sorted(per.items()):
        snr = sorted(pts)
        a.step(snr, [0.0 if pts[s] == "outage" else info_bits_per_symbol(pts[s]) for s in snr], where="post",
               marker="o", label=link)
        names |= {pts[s] for s in snr}
    ticks = sorted({0.0} | {info_bits_per_symbol(n) for n in names if n != "outage"})
    tick_labels = {0.0: "outage", **{info_bits_per_symbol(n): n for n in names if n != "outage"}}
    a.set_yticks(ticks, [tick_labels[t] for t in ticks], fontsize=7)
    a.set_xlabel(label("snr_db"))
    a.set_ylabel("chosen MCS")
    a.grid(True, alpha=0.3)
    a.legend(fontsize=7)
    if own:
        fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- rate-distortion
def rd_curve(df: pd.DataFrame, y: str, *, x: str = "bpp", hue: str = "codec", inf: str | float = "drop") -> pd.DataFrame:
    """Mean curve per ``hue`` value: the mean ``x`` and mean ``y`` over the items of each rate
    point (``rate_key``, ``rate_value``), sorted by ``x``. ``y="ms_ssim"`` is averaged in dB
    (:func:`~semlink.results.schema.ms_ssim_db`) and converted back, as BD-rates fit it.
    Returns columns hue, rate_key, rate_value, x, y, n."""
    from .schema import ms_ssim_db

    by = [hue, "rate_key", "rate_value"]
    t = df
    metric = y
    if y == "ms_ssim":
        t = df.assign(_ms_ssim_db=ms_ssim_db(df["ms_ssim"].to_numpy(float)))
        metric = "_ms_ssim_db"
    sx = summarize(t, by, x, inf=inf)
    sy = summarize(t, by, metric, inf=inf)
    out = sx[by].copy()
    out[x] = sx["mean"].to_numpy()
    out[y] = sy["mean"].to_numpy() if y != "ms_ssim" else ms_ssim_from_db(sy["mean"].to_numpy())
    out["n"] = sy["n"].to_numpy()
    return out.sort_values([hue, x], kind="stable").reset_index(drop=True)


def plot_rd(df: pd.DataFrame, y: str = "psnr", *, x: str = "bpp", hue: str = "codec", ax=None, title: str = "",
            highlight: Sequence[str] = ("hyperprior", "gan-c2f"), ylabel: str | None = None,
            order: Sequence[str] | None = None) -> "Figure":
    """Rate-distortion: the mean curve (:func:`rd_curve`) of each ``hue`` value (codec order of
    first appearance, or ``order``); ``highlight`` codecs drawn thicker."""
    if y not in df.columns:
        raise ConfigError(f"{y!r} is not in the results", allowed=list(df.columns)[:60])
    fig, a, own = _own_axes(ax, (6, 4.2))
    curve = rd_curve(df, y, x=x, hue=hue)
    names = list(order) if order is not None else list(dict.fromkeys(df[hue].astype(str)))
    for c in names:
        g = curve[curve[hue].astype(str) == c]
        if g.empty:
            continue
        a.plot(g[x], g[y], marker="o", ms=3.5, label=c, lw=2.0 if c in highlight else 1.3)
    a.set_xlabel("rate [bpp] (all transmitted bits / pixels)" if x == "bpp" else label(x))
    a.set_ylabel(ylabel or label(y))
    a.set_title(title)
    a.grid(alpha=0.3)
    a.legend()
    if own:
        fig.tight_layout()
    return fig


def lower_is_better(metric: str) -> bool:
    """True for distances and error rates."""
    return metric in LOWER_IS_BETTER
