"""Means with 95 % confidence intervals, and paired differences between two codecs.

One interval everywhere: Student t over the rows of a group,
``mean ± t(level, n - 1) · s / sqrt(n)`` (sample standard deviation ``s``, ``n`` values).
By default the rows of a group are treated as independent draws (items x channel
realisations). Where rows of one item are not independent (at an error-free plateau the
realisations of an item decode identically), pass ``unit="item"``: the values are first averaged
per item (per ``unit`` columns within the group) and the interval is over those means, so ``n``
counts items, not rows (a cluster-level interval, wider and honest about the effective sample).

Infinite values (PSNR of an error-free lossless decode is ``+inf``) are handled by ``inf``:

* ``"drop"`` (default): the mean and interval are over the finite values; ``n_inf`` counts the
  dropped ones (a group of only ``inf`` has mean ``+inf``/``-inf`` and no interval). This is
  what the sweep's plots have always drawn.
* ``"keep"``: a group with an ``inf`` has an infinite mean and no interval.
* a number (e.g. ``100.0``): ``+inf`` is replaced by that cap (``-inf`` by its negative)
  before averaging.

``nan`` (not measured) is always left out and not counted. A group of one value has its mean
and a ``nan`` half-width (no interval from one sample).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from semlink.errors import ConfigError

STAT_COLUMNS = ("n", "n_inf", "mean", "std", "half_width", "ci_low", "ci_high")


def mean_ci(values, level: float = 0.95, inf: str | float = "drop") -> dict:
    """Mean and ``level`` Student-t interval of ``values`` (see the module docstring).

    Returns a dict: n (values used), n_inf (infinite values met), mean, std, half_width,
    ci_low, ci_high.
    """
    from scipy import stats

    v = np.asarray(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce"), dtype=float)
    v = v[~np.isnan(v)]
    infinite = np.isinf(v)
    n_inf = int(infinite.sum())
    if inf == "drop":
        used = v[~infinite]
        if used.size == 0 and n_inf:
            m = float(np.mean(v)) if np.all(v > 0) or np.all(v < 0) else math.nan
            return _stat(0, n_inf, m, math.nan, math.nan)
    elif inf == "keep":
        used = v
        if n_inf:
            m = float(np.mean(v))
            return _stat(int(v.size), n_inf, m, math.nan, math.nan)
    elif isinstance(inf, (int, float)) and not isinstance(inf, bool):
        used = np.where(np.isposinf(v), float(inf), np.where(np.isneginf(v), -float(inf), v))
    else:
        raise ConfigError(f"inf must be 'drop', 'keep' or a number (a cap), got {inf!r}")
    n = int(used.size)
    if n == 0:
        return _stat(0, n_inf, math.nan, math.nan, math.nan)
    m = float(np.mean(used))
    if n < 2:
        return _stat(n, n_inf, m, math.nan, math.nan)
    s = float(np.std(used, ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * s / math.sqrt(n))
    return _stat(n, n_inf, m, s, half)


def _stat(n, n_inf, m, s, half) -> dict:
    return {"n": n, "n_inf": n_inf, "mean": m, "std": s, "half_width": half,
            "ci_low": m - half if math.isfinite(half) else math.nan,
            "ci_high": m + half if math.isfinite(half) else math.nan}


def summarize(df: pd.DataFrame, by: Sequence[str] | str, metric: str, *, level: float = 0.95,
              inf: str | float = "drop", unit: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Mean and ``level`` confidence interval of ``metric`` per group of ``by``.

    Args:
        df: a result table (:func:`semlink.results.load`).
        by: grouping columns, e.g. ``["codec", "snr_db"]``.
        metric: the column to average (e.g. "psnr", "ms_ssim", "st_lpips", "ber").
        level: confidence level of the interval.
        inf: how infinite values count (module docstring; default: left out, counted in n_inf).
        unit: column(s) of the independent unit (e.g. "item"): values are averaged per unit
            first and ``n`` counts units (module docstring); default: every row is a unit.

    Returns:
        One row per group, sorted by ``by``: the ``by`` columns, n, n_inf, mean, std,
        half_width, ci_low, ci_high.
    """
    by = [by] if isinstance(by, str) else list(by)
    units = _units(unit, by)
    _need(df, [*by, *units, metric])
    rows = []
    for key, g in df.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        v = g[metric].to_numpy(dtype=float, na_value=np.nan)
        if units:
            v = _unit_means(g[units], v)
        rows.append({**dict(zip(by, key)), **mean_ci(v, level, inf)})
    return _frame(rows, by, STAT_COLUMNS, df)


def paired(df: pd.DataFrame, a: str, b: str, metric: str, *, by: Sequence[str] | str = ("snr_db",),
           on: Sequence[str] = ("item", "set", "link_id", "trial"), column: str = "codec", level: float = 0.95,
           inf: str | float = "drop", unit: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Paired differences ``metric(a) - metric(b)`` between two codecs on the same items and channel
    realisations, with their ``level`` interval per group of ``by``.

    Rows of ``a`` and ``b`` (values of ``column``) are paired on ``by`` + ``on`` (the same item,
    set, link, SNR and trial); a key that either codec lacks is left out (``n_unpaired``). The
    interval is the Student t interval of the differences (a paired t interval); ``excludes_zero``
    says whether it excludes 0, i.e. whether the difference is significant at ``level``.

    Pairing is by index: a sweep draws each row's channel from a seed of its full key (which
    holds the codec label), so trial t of ``a`` and trial t of ``b`` see statistically equal but
    not identical channel realisations; the items, SNRs and link are identical.

    Args:
        inf: as in :func:`summarize`, applied to the differences (``inf - inf`` is ``nan``: both
            decoded losslessly; it is left out).
        unit: as in :func:`summarize`: the differences are averaged per unit (e.g. "item") and
            the interval is over those means (``n`` counts units; ``n_pairs`` still counts pairs).

    Returns:
        One row per group: the ``by`` columns, a, b, n_pairs, n_unpaired, and the statistics of
        the difference (n, n_inf, mean, std, half_width, ci_low, ci_high) and excludes_zero.

    Raises:
        ConfigError: a codec is not in the table, or a key holds several rows of one codec
            (several rate points under one label: filter first, or add the rate column to ``on``).
    """
    by = [by] if isinstance(by, str) else list(by)
    units = _units(unit, by)
    on = [c for c in on if c in df.columns and c not in by]
    on += [c for c in units if c not in on]
    _need(df, [*by, *on, column, metric])
    keys = by + on
    sides = {}
    for name in (a, b):
        side = df[df[column] == name]
        if side.empty:
            raise ConfigError(f"{column}={name!r} is not in the results",
                              allowed=sorted(map(str, df[column].dropna().unique())))
        dup = side.duplicated(keys)
        if dup.any():
            raise ConfigError(f"{column}={name!r} has {int(dup.sum())} rows with the same {', '.join(keys)}: "
                              f"several rate points under one label? filter the table or pair on more columns")
        sides[name] = side[keys + [metric]].rename(columns={metric: f"_{name}"})
    both = sides[a].merge(sides[b], on=keys, how="outer", indicator=True)
    rows = []
    for key, g in both.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        pairs = g[g["_merge"] == "both"]
        va = pairs[f"_{a}"].to_numpy(dtype=float, na_value=np.nan)
        vb = pairs[f"_{b}"].to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            d = va - vb
        if units:
            d = _unit_means(pairs[units], d)
        st = mean_ci(d, level, inf)
        excl = bool(math.isfinite(st["half_width"]) and (st["ci_low"] > 0 or st["ci_high"] < 0))
        rows.append({**dict(zip(by, key)), "a": a, "b": b, "n_pairs": len(pairs),
                     "n_unpaired": int((g["_merge"] != "both").sum()), **st, "excludes_zero": excl})
    return _frame(rows, by, ("a", "b", "n_pairs", "n_unpaired", *STAT_COLUMNS, "excludes_zero"), df)


def pick_examples(df: pd.DataFrame, metric: str, a: str, b: str | None = None, *, column: str = "codec",
                  item: str = "item", rule: Sequence[str] = ("worst", "median", "best"),
                  higher_is_better: bool = True) -> list[dict]:
    """Items for a figure, chosen by a stated rule (never by name).

    Per item, the mean of ``metric`` of ``a`` (rows where ``column == a``) minus, when ``b`` is
    given, the mean of ``b`` on the same item (the paired difference); then, for each word of
    ``rule``, the item at that rank: ``"worst"`` (lowest value; highest for a distance, with
    ``higher_is_better=False``), ``"median"`` (the lower median), ``"best"``.

    Returns:
        ``{"rule", "item", "value", "rule_text"}`` per word, in order (an item may repeat when the
        table holds fewer items than words).
    """
    _need(df, [column, item, metric])
    va = df[df[column] == a].groupby(item)[metric].mean()
    if va.empty:
        raise ConfigError(f"{column}={a!r} is not in the results", allowed=sorted(map(str, df[column].dropna().unique())))
    vals = va
    what = f"{metric} of {a}"
    if b is not None:
        vb = df[df[column] == b].groupby(item)[metric].mean()
        vals = (va - vb).dropna()
        what = f"{metric}({a}) - {metric}({b}) per item"
    vals = vals[np.isfinite(vals.to_numpy(dtype=float))].sort_values(ascending=higher_is_better)
    if vals.empty:
        raise ConfigError(f"no item has a finite {what}")
    ranks = {"worst": 0, "median": (len(vals) - 1) // 2, "best": len(vals) - 1}
    out = []
    for word in rule:
        if word not in ranks:
            raise ConfigError(f"example rule {word!r} is unknown", allowed=list(ranks))
        name = vals.index[ranks[word]]
        out.append({"rule": word, "item": str(name), "value": float(vals.iloc[ranks[word]]),
                    "rule_text": f"{word} item by {what} ({len(vals)} items)"})
    return out


def _units(unit: Sequence[str] | str | None, by: Sequence[str]) -> list[str]:
    if unit is None:
        return []
    units = [unit] if isinstance(unit, str) else list(unit)
    if not units:
        raise ConfigError("unit must name at least one column (e.g. 'item'), or be None")
    return [u for u in units if u not in by]


def _unit_means(keys: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """The mean of ``values`` per distinct row of ``keys`` (nan left out; an inf stays inf)."""
    frame = keys.reset_index(drop=True).copy()
    frame["_v"] = values
    return frame.groupby(list(keys.columns), sort=True, dropna=False)["_v"].mean().to_numpy(dtype=float)


def _need(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in dict.fromkeys(cols) if c not in df.columns]
    if missing:
        raise ConfigError(f"column(s) {', '.join(missing)} not in the results",
                          allowed=[c for c in df.columns if not c.startswith("_")][:60])


def _frame(rows: list[dict], by: list[str], stats_cols: Sequence[str], df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=[*by, *stats_cols])
    for c in by:  # keep the dtypes of the grouping columns
        try:
            out[c] = out[c].astype(df[c].dtype)
        except (TypeError, ValueError):
            pass
    for c in ("n", "n_inf", "n_pairs", "n_unpaired"):
        if c in out.columns:
            out[c] = out[c].astype("int64")
    return out.reset_index(drop=True)
