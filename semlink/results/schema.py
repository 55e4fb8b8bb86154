"""The one declared schema of semlink's result rows: every column, its unit and its dtype.

Three tables share it (``Column.tables``):

* ``"sweep"``: a row of ``semlink sweep`` (``results.csv``, ``rows.jsonl``): one transmission of
  one item (or one image of a set) at one SNR and channel realisation. Written by
  :func:`semlink.simulator.row.simulate` (measurements) and :func:`semlink.sweep.runner.run_task`
  (identity, link columns, provenance).
* ``"rd"``: a row of ``semlink rd`` (``rd.csv``): one item coded at one rate point, no channel
  (:func:`semlink.rd.rd_points`).
* ``"eval"``: a row of :func:`semlink.evaluate.evaluate` (the codec-over-a-dataset function
  behind ``semlink rd``, ``semlink codec``, the figures and the zoo's test figures).

Dtypes are pandas dtypes: ``"string"`` (identifiers and labels; an item named ``"0001"`` stays
``"0001"``), ``"float64"`` (``inf`` and ``nan`` allowed; ``nan`` = not measured),
``"Int64"``/``"UInt64"`` (counts and seeds, ``<NA>`` when absent; an integer column whose
values are not all whole numbers, e.g. ``bits`` of set rows that carry a fractional share of
the set's shared bits, is read as float64), ``"boolean"`` and
``"json"`` (dicts parsed from the JSON text of the CSV cell; ``None`` when empty). Columns
marked ``derived`` are not stored: :func:`semlink.results.load` computes them.

PSNR is ``inf`` for an error-free lossless decode (:func:`semlink.simulator.metrics.psnr`);
:func:`semlink.results.summarize` says how it averages such values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DTYPES = ("string", "float64", "Int64", "UInt64", "boolean", "json")


@dataclass(frozen=True)
class Column:
    """One column of a result table.

    Attributes:
        name: the column name.
        dtype: one of :data:`DTYPES`.
        unit: the unit ("dB", "bits", "s", ...), "" for labels and pure numbers.
        group: identity | link | quality | rate | phy | outcome | timing | provenance | derived.
        tables: the tables that hold it ("sweep", "rd", "eval").
        when: when the column is present ("" = always; e.g. "phy mode", "CBR budget").
        doc: what it means.
    """

    name: str
    dtype: str
    unit: str = ""
    group: str = ""
    tables: tuple[str, ...] = ("sweep",)
    when: str = ""
    doc: str = ""


S, R, E = "sweep", "rd", "eval"
ALL = (S, R, E)
SE = (S, E)


def _c(name, dtype, unit="", group="", tables=(S,), when="", doc=""):
    return Column(name, dtype, unit, group, tuple(tables), when, doc)


#: Every column, in table order.
COLUMNS: tuple[Column, ...] = (
    # ---------------------------------------------------------------- identity
    _c("key", "string", "", "identity", (S,), "", "row key: item|codec label|options JSON|rate label|link_id|snr|trial "
       "(set codecs: set:NAME|...)"),
    _c("dataset", "string", "", "identity", (R, E), "", "dataset argument (name or folder:DIR)"),
    _c("item", "string", "", "identity", ALL, "", "item name (folder datasets: relative path without extension)"),
    _c("set", "string", "", "identity", SE, "", "set name; \"\" when items are not coded in sets"),
    _c("group", "string", "", "identity", (E,), "", "the item's dataset group (\"\" where the dataset has none)"),
    _c("height", "Int64", "px", "identity", (R, E), "", "image height"),
    _c("width", "Int64", "px", "identity", (R, E), "", "image width"),
    _c("frames", "Int64", "frames", "identity", (E,), "", "frames of a clip (1 for an image)"),
    _c("codec", "string", "", "identity", ALL, "", "codec label (a sweep spec's label, else the registry name)"),
    _c("tool", "string", "", "identity", (R, E), "", "the codec's implementation (encode info 'tool')"),
    _c("rate", "string", "", "identity", SE, "", "rate point sent: key=value, or key>budget (over a CBR budget)"),
    _c("rate_target", "string", "", "identity", (S,), "", "the spec's rate label, or auto / cbr"),
    _c("param", "string", "", "identity", (R, E), "", "rate key of the rate point (bpp, quality, ...)"),
    _c("value", "float64", "", "identity", (R, E), "", "rate value of the rate point"),
    _c("quality", "float64", "", "identity", (R, E), "", "the codec's rate-point id where it reports one"),
    _c("link", "string", "", "identity", (S,), "", "human-readable link label"),
    _c("link_id", "string", "", "identity", (S,), "", "sha1[:10] of the link configuration"),
    _c("mode", "string", "", "identity", (S,), "", "phy | ideal"),
    _c("snr_db", "float64", "dB", "identity", (S,), "", "Es/N0 per resource element"),
    _c("trial", "Int64", "", "identity", (S,), "", "channel realisation index"),
    # ---------------------------------------------------------------- link
    _c("channel", "string", "", "link", (S,), "", "channel model (ideal mode: fading)"),
    _c("modulation", "string", "", "link", (S,), "", "qpsk | 16qam | 64qam; 'ideal' on the ideal link"),
    _c("code", "string", "", "link", (S,), "", "channel code"),
    _c("estimator", "string", "", "link", (S,)),
    _c("equalizer", "string", "", "link", (S,)),
    _c("domain", "string", "", "link", (S,), "phy mode", "frequency | time"),
    _c("decoder", "string", "", "link", (S,), "phy mode", "LDPC decoder"),
    _c("channel_params", "json", "", "link", (S,), "phy mode", "channel model parameters"),
    _c("cbr_budget", "float64", "channel uses / source symbol", "link", (S,), "ideal mode"),
    _c("mcs", "string", "", "link", (S,), "link adaptation", "MCS chosen at this SNR ('outage': none)"),
    _c("adapt_bler", "float64", "", "link", (S,), "link adaptation", "BLER target of link adaptation"),
    # ---------------------------------------------------------------- quality
    _c("psnr", "float64", "dB", "quality", SE, "", "RGB PSNR, peak 255 (clips: mean over frames); inf when identical"),
    _c("psnr_db", "float64", "dB", "quality", (R,), "", "RGB PSNR, peak 255; inf when identical (rd's name of psnr)"),
    _c("ms_ssim", "float64", "", "quality", ALL, "", "MS-SSIM 0..1 (clips: mean over frames)"),
    _c("lpips", "float64", "distance", "quality", ALL, "perceptual metric", "LPIPS (AlexNet); lower is better"),
    _c("lpips_vgg", "float64", "distance", "quality", ALL, "perceptual metric", "LPIPS (VGG-16); lower is better"),
    _c("st_lpips", "float64", "distance", "quality", ALL, "perceptual metric", "ST-LPIPS (VGG); lower is better"),
    _c("dists", "float64", "distance", "quality", ALL, "perceptual metric", "DISTS (VGG-16); lower is better"),
    _c("perceptual", "float64", "distance", "quality", (R,), "--perceptual", "rd's name of the perceptual distance"),
    _c("perceptual_metric", "string", "", "quality", ALL, "", "which perceptual metric ('' = none)"),
    _c("perceptual_precision", "string", "", "quality", SE),
    # ---------------------------------------------------------------- rate and resources
    _c("bits", "Int64", "bits", "rate", ALL, "", "every transmitted bit incl. the share of a set's shared bits "
       "(fractional for set rows: then read as float64)"),
    _c("shared_bits", "float64", "bits", "rate", SE, "", "the set's shared bits / set size"),
    _c("own_bits", "Int64", "bits", "rate", SE, "", "the item's own parts"),
    _c("bits_by_part", "json", "bits", "rate", SE, "", "{part: bits} (shared parts: per item share)"),
    _c("bpp", "float64", "bits / pixel", "rate", ALL, "", "bits / (H W frames)"),
    _c("cbr", "float64", "data REs / source symbol", "rate", (S,), "", "source symbols: H W 3 (frames)"),
    _c("cbr_total", "float64", "REs / source symbol", "rate", (S,), "", "every RE incl. pilots, guards, DC, CP"),
    _c("bcr", "float64", "", "rate", SE, "", "bits / (3 H W 8 frames)"),
    _c("symbols_by_part", "json", "data REs", "rate", (S,), "", "{part: data REs}"),
    _c("bits_budget", "Int64", "bits", "rate", (S,), "CBR budget", "payload bits the budget holds"),
    _c("data_symbols_budget", "Int64", "data REs", "rate", (S,), "CBR budget"),
    _c("cbr_target", "float64", "data REs / source symbol", "rate", (S,), "CBR budget"),
    _c("capacity", "float64", "bits / channel use", "rate", (S,), "", "ideal mode; nan otherwise"),
    # ---------------------------------------------------------------- PHY
    _c("raw_ber", "float64", "fraction", "phy", (S,), "", "pre-FEC BER; nan on the ideal link"),
    _c("ber", "float64", "fraction", "phy", (S,), "", "post-FEC BER; nan on the ideal link"),
    _c("bler", "float64", "fraction", "phy", (S,), "", "codeword error rate; nan on the ideal link"),
    _c("packets", "Int64", "packets", "phy", (S,)),
    _c("packets_lost", "Int64", "packets", "phy", (S,)),
    _c("shared_packets_lost", "Int64", "packets", "phy", (S,)),
    # ---------------------------------------------------------------- outcome
    _c("decoded_ok", "boolean", "", "outcome", ALL, "", "the decoder reports an intact decode"),
    _c("outage", "boolean", "", "outcome", (S,), "", "nothing decodable was sent or delivered"),
    _c("reason", "string", "", "outcome", SE, "", "why a decode is not ok"),
    _c("on_loss", "string", "", "outcome", (S,), "", "the codec's loss policy"),
    _c("recovered", "float64", "fraction", "outcome", (S,), "", "fraction recovered where the codec reports it"),
    _c("fits_capacity", "boolean", "", "outcome", (S,)),
    _c("channel_adaptive", "boolean", "", "outcome", (S,)),
    _c("channel_state", "json", "", "outcome", (S,), "channel-adaptive codecs", "what the encoder was told"),
    _c("protect", "json", "", "outcome", (S,), "", "{part: link overrides}"),
    _c("set_size", "Int64", "items", "outcome", SE),
    _c("encode_info", "json", "", "outcome", SE, "", "the codec's encode info"),
    # ---------------------------------------------------------------- timing (seconds per row)
    *(_c(n, "float64", "s", "timing", ALL if n in ("encode_s", "decode_s") else (S,))
      for n in ("encode_s", "link_s", "decode_s", "metrics_s", "load_s", "warmup_s", "link_warmup_s")),
    # ---------------------------------------------------------------- provenance
    _c("seed", "UInt64", "", "provenance", (S,), "", "64-bit seed of the row's generator"),
    _c("spec_hash", "string", "", "provenance", (S,)),
    *(_c(n, "string", "", "provenance", (S,)) for n in
      ("semlink_version", "sionna_version", "torch_version", "numpy_version", "compressai_version")),
    # ---------------------------------------------------------------- derived by load()
    _c("rate_key", "string", "", "derived", ALL, "", "rate key of 'rate' (or rd's param)"),
    _c("rate_value", "float64", "", "derived", ALL, "", "rate value of 'rate' (or rd's value); nan for key>budget"),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
#: Columns whose CSV cells hold JSON.
JSON_COLUMNS = tuple(c.name for c in COLUMNS if c.dtype == "json")
#: Names of the perceptual-distance columns of a sweep row (named after the metric).
PERCEPTUAL = ("lpips", "lpips_vgg", "st_lpips", "dists")
#: Metrics for which lower is better.
LOWER_IS_BETTER = {*PERCEPTUAL, "perceptual", "ber", "bler", "raw_ber"}

#: Axis labels of the metrics.
LABELS = {
    "psnr": "PSNR [dB]", "psnr_db": "PSNR [dB]", "ms_ssim": "MS-SSIM", "ms_ssim_db": "MS-SSIM [dB]",
    "lpips": "LPIPS (AlexNet) - lower is better", "st_lpips": "ST-LPIPS (VGG, shift-tolerant) - lower is better",
    "lpips_vgg": "LPIPS (VGG-16) - lower is better", "dists": "DISTS (VGG-16) - lower is better",
    "ber": "post-FEC BER", "bler": "BLER", "raw_ber": "raw (pre-FEC) BER", "bpp": "rate [bpp]",
    "snr_db": "SNR = Es/N0 per resource element [dB]",
}


def columns(table: str) -> list[Column]:
    """The columns of ``table`` ("sweep", "rd" or "eval"), derived ones included."""
    if table not in ALL:
        raise ValueError(f"table must be one of {ALL}, got {table!r}")
    return [c for c in COLUMNS if table in c.tables]


def column(name: str) -> Column | None:
    """The declared column ``name``; expanded JSON columns (``bits_by_part.header``) inherit the
    unit of their parent (float64); None for an undeclared name."""
    if name in BY_NAME:
        return BY_NAME[name]
    parent, dot, _ = name.partition(".")
    if dot and parent in BY_NAME:
        p = BY_NAME[parent]
        return Column(name, "float64", p.unit, p.group, p.tables, p.when, f"expanded from {parent}")
    return None


def label(name: str) -> str:
    """Axis label of a column: its label, else the name with its unit."""
    if name in LABELS:
        return LABELS[name]
    c = column(name)
    return f"{name} [{c.unit}]" if c is not None and c.unit and c.unit not in ("fraction",) else name


def parse_rate(label: str) -> tuple[str, float]:
    """``"quality=3"`` -> ("quality", 3.0); ``"bpp>budget"`` -> ("bpp", nan); ``"default="`` ->
    ("default", nan); anything unparsable -> ("", nan)."""
    text = "" if label is None else str(label)
    for sep in ("=", ">"):
        key, found, value = text.partition(sep)
        if found:
            try:
                return key, float(value) if sep == "=" else math.nan
            except ValueError:
                return key, math.nan
    return "", math.nan


def ms_ssim_db(x):
    """MS-SSIM in dB, ``-10 log10(1 - MS-SSIM)`` (how RD comparisons average and fit it)."""
    with np.errstate(divide="ignore"):
        return -10 * np.log10(np.clip(1 - np.asarray(x, float), 1e-12, None))


def ms_ssim_from_db(d):
    """Inverse of :func:`ms_ssim_db`."""
    return 1 - 10 ** (-np.asarray(d, float) / 10)
