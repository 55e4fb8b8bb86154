"""Sweep specifications (TOML): parsing, validation and expansion into rows.

A spec names a dataset, codecs with rate points, a link, SNRs, trials and a seed. Any link
field, the SNR and a codec's rate may be a list; the sweep is their cross product. Unknown
keys and impossible values raise ``ValueError`` naming the key and the allowed values before
anything runs. Example (``experiments/quick.toml``)::

    name = "quick"
    seed = 0
    trials = 2
    snr_db = "0:20:2"              # or a list of dB values (Es/N0 per resource element)

    [dataset]
    name = "photos"                # semlink.data registry
    max_items = 5                  # optional; also: items = ["astronaut", ...], options = {...}

    [[codec]]
    name = "jpeg2000"
    bpp = 0.3                      # one rate key the codec declares (bpp, quality, crf, ...; list ok)

    [link]
    mode = "phy"                   # every semlink.phy.LinkConfig field; lists are swept
    channel = "tdl-c"
    modulation = ["qpsk", "16qam"]

``mode = "ideal"`` takes ``cbr`` (channel uses per source symbol, list ok) and ``fading``
("awgn" | "rayleigh") instead; the codec's rate list is then the set of candidate points from
which, at each SNR, the largest that fits the capacity is chosen.

More keys:

* ``plugins = ["mylab.codecs", "path/to/file.py"]``: imported before validation (a user's
  ``@register_codec`` classes, channels, datasets); relative paths from the current directory.
* ``[dataset] name = "folder"``, ``path = "DIR"``: a user's images or clips; ``sets = true``
  makes each subfolder one image *set*; ``set_size = N`` forms sets of N consecutive items
  of any image dataset. Set codecs code each set jointly; per-image codecs run image by image
  on the same sets (one table).
* ``[link.protect]`` (phy mode): other link settings for named parts (unequal error
  protection), e.g. ``header = { code = "80211n-648-1/2", modulation = "qpsk" }``.
* ``[[link]]`` tables are swept together; ``codecs = ["label", ...]`` gives a link to some codecs
  only (e.g. the seed system on its protected link, the baselines on a plain one), ``name`` names
  it. Links of different kinds (ideal, PHY, PHY with a budget) may share a spec: each codec's rate
  points follow the link (:mod:`semlink.simulator.rate`).
* ``[link] cbr = X`` (phy mode): a fixed budget of data REs per source symbol. A codec with a
  ``bpp`` (images) or ``bcr`` (clips) target is coded at the largest target that fits; a set codec,
  or a codec with rate points only, sends the largest of its rate points whose parts fit (else the
  smallest, not sent: an outage).

Everything is validated before anything runs: codec kind vs dataset kind, rate keys the codec
accepts, codec options, part names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semlink.errors import ConfigError
from semlink.phy.ber import parse_snr_list
from semlink.phy.linkspec import IdealLinkSpec, LinkSpec, PhyLinkSpec, parse_links
from semlink.simulator.rate import BestOfPoints, FitBudget, FixedRate, RatePolicy

TOP_KEYS = {"name", "out", "seed", "trials", "snr_db", "dataset", "codec", "link", "metrics", "perceptual", "plugins"}
DATASET_KEYS = {"name", "items", "max_items", "options", "path", "sets", "set_size"}
#: rate keywords of the built-in codecs (documentation; a codec declares its own in ``rate_keys``)
RATE_KEYS = ("bpp", "quality", "bitrate", "bcr", "crf", "qp")
CODEC_TABLE_KEYS = {"name", "options", "label"}
#: the default metrics; ``"perceptual"`` is the spec's ``perceptual`` choice (``"auto"``: ST-LPIPS,
#: the metric of the committed results). Any registered metric may be named (``lpips``,
#: ``lpips_vgg``, ``st_lpips``, ``dists``, a plug-in's).
METRICS = ("psnr", "ms_ssim", "perceptual")
#: the link point of a spec (kept name: a PhyLinkSpec or an IdealLinkSpec)
LinkPoint = LinkSpec


@dataclass(frozen=True)
class CodecEntry:
    """One ``[[codec]]`` table: the codec, its label and options, and the rate it was given.

    Attributes:
        key, values: the rate keyword and its listed values (``key`` None: none given, the
            codec's own rate points ``points_key`` / ``points`` are used).
        fit_key: the continuous target a PHY budget fits (``bpp`` images, ``bcr`` clips), or None
            when the codec has none (or codes sets): it then sends the best of its points.
    """

    codec: str
    label: str
    options: tuple[tuple[str, Any], ...]
    key: str | None
    values: tuple
    points_key: str
    points: tuple
    fit_key: str | None

    def points_for(self, link: LinkSpec) -> list["CodecPoint"]:
        """The codec's rate points over ``link`` (each with its rate policy)."""
        if isinstance(link, PhyLinkSpec) and link.cbr is not None:
            policy = FitBudget(self.fit_key) if self.fit_key else BestOfPoints(self.points_key, self.points, "cbr")
            return [CodecPoint(self.codec, self.label, self.options, policy)]
        key, values = (self.key, self.values) if self.key else (self.points_key, self.points)
        if isinstance(link, IdealLinkSpec):
            return [CodecPoint(self.codec, self.label, self.options, BestOfPoints(key, tuple(values), "auto"))]
        return [CodecPoint(self.codec, self.label, self.options, FixedRate(key, v)) for v in values]


@dataclass(frozen=True)
class CodecPoint:
    """One codec with one rate policy (:mod:`semlink.simulator.rate`): a fixed point, the best
    of its points within the link's budget, or a target fitted to it."""

    codec: str
    label: str
    options: tuple[tuple[str, Any], ...]
    policy: RatePolicy

    @property
    def rate_label(self) -> str:
        """Part of the row key: ``"bpp=0.3"``, ``"auto"`` (ideal link), ``"cbr"`` (PHY budget)."""
        return self.policy.target_label

    @property
    def rate_key(self) -> str | None:
        return self.policy.key if isinstance(self.policy, FixedRate) else None


@dataclass
class SweepSpec:
    """A validated sweep. ``path`` is where it was read from (None when built in code)."""

    name: str
    out: Path
    seed: int
    trials: int
    snr_db: list[float]
    dataset: str
    dataset_options: dict
    items: list[str] | None
    max_items: int | None
    codec_entries: list[CodecEntry]
    links: list[LinkSpec]
    metrics: tuple[str, ...] = METRICS
    perceptual: str = "auto"
    raw: dict = field(default_factory=dict)
    path: Path | None = None
    plugins: tuple[str, ...] = ()
    #: each subfolder of a folder dataset is one set
    sets: bool = False
    #: sets of this many consecutive items (None: no fixed size)
    set_size: int | None = None
    dataset_kind: str = "image"

    @property
    def codecs(self) -> list[CodecPoint]:
        """The codec points over the first link (every link of one kind gives the same points)."""
        return [cp for e in self.codec_entries if self.links[0].applies_to(e.label) for cp in e.points_for(self.links[0])]

    def pairs(self) -> list[tuple[CodecEntry, LinkSpec]]:
        """(codec entry, link) pairs the sweep runs: every link serves the codecs it names (all by default)."""
        return [(e, lp) for e in self.codec_entries for lp in self.links if lp.applies_to(e.label)]

    @property
    def hash(self) -> str:
        """Hash of the spec's content (provenance column ``spec_hash``)."""
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _as_list(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _unknown(where: str, keys, allowed) -> None:
    bad = sorted(set(keys) - set(allowed))
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {bad}; allowed: {', '.join(sorted(allowed))}")


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML sweep spec."""
    from semlink.options import read_toml

    path = Path(path)
    return parse_spec(read_toml(path, "spec file"), default_name=path.stem, path=path)


def parse_spec(raw: dict, default_name: str = "sweep", path: Path | None = None) -> SweepSpec:
    """Validate a spec given as a dict (the TOML's content). Plug-ins are imported first."""
    from semlink.plugins import load_plugins, resolve_plugins

    _unknown("spec", raw, TOP_KEYS)
    plugins = raw.get("plugins", [])
    if not isinstance(plugins, list):
        raise ConfigError(f"plugins must be a list of module names or .py files, got {plugins!r}")
    plugins = resolve_plugins(plugins)
    load_plugins(plugins)
    name = str(raw.get("name", default_name))
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
    trials = raw.get("trials", 1)
    if not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"trials must be a positive int, got {trials!r}")
    if "snr_db" not in raw:
        raise ConfigError("snr_db is required (list of dB values or 'start:stop:step')")
    snr = raw["snr_db"]
    snrs = parse_snr_list(snr) if isinstance(snr, str) else [float(x) for x in _as_list(snr)]
    if not snrs:
        raise ConfigError("snr_db is empty")
    out = Path(raw.get("out", f"results/{name}"))

    ds = raw.get("dataset")
    if not isinstance(ds, dict) or "name" not in ds:
        raise ConfigError("[dataset] with a name is required")
    _unknown("[dataset]", ds, DATASET_KEYS)
    from semlink.data import list_datasets

    if ds["name"] not in list_datasets():
        raise ConfigError(f"dataset.name={ds['name']!r} is unknown; registered: {', '.join(list_datasets())}")
    items = ds.get("items")
    if items is not None and (not isinstance(items, list) or not all(isinstance(x, str) for x in items)):
        raise ConfigError("dataset.items must be a list of item names")
    max_items = ds.get("max_items")
    if max_items is not None and (not isinstance(max_items, int) or max_items < 1):
        raise ConfigError(f"dataset.max_items must be a positive int, got {max_items!r}")
    ds_opts = ds.get("options", {})
    if not isinstance(ds_opts, dict):
        raise ConfigError("dataset.options must be a table")
    ds_opts = dict(ds_opts)
    if "path" in ds:
        if not isinstance(ds["path"], str) or not ds["path"]:
            raise ConfigError(f"dataset.path must be a folder path, got {ds['path']!r}")
        if "path" in ds_opts:
            raise ConfigError("give dataset.path or dataset.options.path, not both")
        ds_opts["path"] = str(Path(ds["path"]).expanduser().resolve())
    sets = ds.get("sets", False)
    if not isinstance(sets, bool):
        raise ConfigError(f"dataset.sets must be true or false, got {sets!r}")
    set_size = ds.get("set_size")
    if set_size is not None and (not isinstance(set_size, int) or isinstance(set_size, bool) or set_size < 1):
        raise ConfigError(f"dataset.set_size must be a positive int, got {set_size!r}")
    if sets and set_size is not None:
        raise ConfigError("give dataset.sets = true (one set per subfolder) or dataset.set_size, not both")
    dataset = _build_dataset(ds["name"], ds_opts)
    names = [it.name for it in dataset]
    if items is not None:
        missing = sorted(set(items) - set(names))
        if missing:
            shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
            raise ConfigError(f"dataset.items: {missing} not in dataset {ds['name']!r} (has: {shown})")
    if sets and ds["name"] != "folder":
        raise ConfigError(f"dataset.sets = true needs a folder dataset (one set per subfolder); for {ds['name']!r} use set_size")
    if (sets or set_size) and dataset.kind != "image":
        raise ConfigError(f"image sets need an image dataset; {ds['name']!r} holds {dataset.kind} items")

    from semlink.simulator.metrics import METRICS as METRIC_REGISTRY, PERCEPTUAL_NAMES

    metrics = tuple(raw.get("metrics", METRICS))
    known = set(METRIC_REGISTRY.names()) | {"perceptual"}
    _unknown("metrics", metrics, known)
    if len(set(metrics)) != len(metrics):
        raise ConfigError(f"metrics: {list(metrics)} names a metric twice")
    perceptual = raw.get("perceptual", "auto")
    allowed = ("auto", *PERCEPTUAL_NAMES, "dists")
    if perceptual not in allowed:
        raise ConfigError(f"perceptual={perceptual!r} is not allowed", allowed=allowed)

    links = parse_links(raw.get("link"))  # [link], or [[link]] tables: their union
    codecs = _parse_codecs(raw.get("codec"), dataset.kind, ds["name"], sets or set_size is not None)
    _check_links(links, codecs, sets or set_size is not None)
    return SweepSpec(name, out, seed, trials, snrs, ds["name"], ds_opts, items, max_items, codecs, links,
                     metrics, perceptual, raw, path, plugins, sets, set_size, dataset.kind)


def _freeze(value: Any) -> Any:
    """Option values hashable (the runner caches codecs by their options): lists -> tuples."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _build_dataset(name: str, options: dict):
    from semlink.data import get_dataset

    try:
        return get_dataset(name, **options)
    except TypeError as e:
        raise ConfigError(f"dataset {name!r}: {e}") from None


def item_groups(spec: SweepSpec, dataset) -> list[tuple[str, list]]:
    """The dataset's items as ``(set name, [Item, ...])`` groups, in table order.

    Without sets every item is its own group named ``""``. With ``sets = true`` each folder
    (``Item.group``; ``"."`` for files at the top level) is one set; with ``set_size = N``
    consecutive items form sets ``set000``, ``set001``, ... (the last may be smaller).
    ``items`` and ``max_items`` select items before sets are formed.
    """
    chosen = list(dataset)
    if spec.items is not None:
        keep = set(spec.items)
        chosen = [it for it in chosen if it.name in keep]
    if spec.max_items is not None:
        chosen = chosen[: spec.max_items]
    if spec.sets:
        groups: dict[str, list] = {}
        for it in chosen:
            groups.setdefault(getattr(it, "group", None) or ".", []).append(it)
        return list(groups.items())
    if spec.set_size is not None:
        n = spec.set_size
        return [(f"set{i // n:03d}", chosen[i : i + n]) for i in range(0, len(chosen), n)]
    return [("", [it]) for it in chosen]


def _parse_codecs(entries, dataset_kind: str, dataset_name: str, with_sets: bool) -> list[CodecEntry]:
    from semlink.codecs import codec_class, get_codec

    if not entries:
        raise ConfigError("at least one [[codec]] is required")
    out = []
    for i, c in enumerate(_as_list(entries)):
        where = f"codec[{i}]"
        if not isinstance(c, dict) or "name" not in c:
            raise ConfigError(f"{where}: a table with a name is required")
        name = c["name"]
        try:
            cls = codec_class(name)
        except ConfigError as e:
            raise type(e)(f"{where}.name={name!r} is unknown", allowed=e.allowed) from None
        kind = getattr(cls, "kind", None)
        if kind != dataset_kind:
            raise ConfigError(f"{where}: codec {name!r} codes {kind} items but dataset {dataset_name!r} holds "
                              f"{dataset_kind} items")
        opts = c.get("options", {})
        if not isinstance(opts, dict):
            raise ConfigError(f"{where}.options must be a table")
        try:
            codec = get_codec(name, **opts)  # validates the options
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
        accepted = tuple(codec.rate_keys)
        # the codec declares its rate keywords: a plug-in's own keyword is a valid key here
        _unknown(where, c, CODEC_TABLE_KEYS | set(accepted) | set(RATE_KEYS))
        if codec.codes_sets and not with_sets:
            raise ConfigError(f"{where}: codec {name!r} codes image sets; give [dataset] sets = true (folder dataset, "
                              f"one set per subfolder) or set_size = N")
        keys = [k for k in c if k not in CODEC_TABLE_KEYS]
        if len(keys) > 1:
            raise ConfigError(f"{where}: give one rate key, got {keys}")
        label = str(c.get("label", name))
        frozen = tuple(sorted((k, _freeze(v)) for k, v in opts.items()))
        fit = "bcr" if codec.kind == "video" else "bpp"
        fit_key = fit if fit in accepted and not codec.codes_sets else None
        points = tuple(codec.rate_points())
        key, values = None, ()
        if keys:
            key, values = keys[0], tuple(_as_list(c[keys[0]]))
            if accepted and key not in accepted:
                raise ConfigError(f"{where}: codec {name!r} takes no rate {key!r}; it accepts {', '.join(accepted)}")
            for v in values:
                if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                    raise ConfigError(f"{where}.{key}: rates must be positive numbers, got {v!r}")
        elif not points:
            raise ConfigError(f"{where}: no rate given and codec {name!r} has no default rate points; "
                              f"give one of {list(accepted) or list(RATE_KEYS)}")
        out.append(CodecEntry(name, label, frozen, key, values, codec.native_rate_key, points, fit_key))
    return out


def _check_links(links: list[LinkSpec], codecs: list[CodecEntry], with_sets: bool = False) -> None:
    """Every link serves known codec labels; a budget fixes the rate of the codecs it serves; every
    part named in ``[link.protect]`` is a part of a codec the link serves."""
    from semlink.codecs import get_codec

    labels = [e.label for e in codecs]
    for lp in links:
        unknown = sorted(set(lp.codecs) - set(labels))
        if unknown:
            raise ConfigError(f"link.codecs: {unknown} name no [[codec]] label", allowed=labels)
        served = [e for e in codecs if lp.applies_to(e.label)]
        budgeted = isinstance(lp, IdealLinkSpec) or lp.cbr is not None
        if with_sets and budgeted and lp.budget == "set":
            from semlink.codecs import codec_class

            single = [e.label for e in served if not getattr(codec_class(e.codec), "codes_sets", False)]
            if single:
                raise ConfigError(f"link.budget = 'set' pools a set's channel uses, but {single} code one image at a "
                                  f"time and semlink does not allocate per-image rates jointly yet: use budget = 'item' "
                                  f"(every image its own channel uses), or serve those codecs with another link")
        if isinstance(lp, PhyLinkSpec) and lp.cbr is not None:
            for e in served:
                if e.key is not None:
                    raise ConfigError(f"codec {e.label!r}: link.cbr fixes the channel uses, and so the rate: remove "
                                      f"{e.key} (the codec is coded at the largest rate that fits)")
                if e.fit_key is None and not e.points:
                    raise ConfigError(f"codec {e.label!r}: link.cbr needs a codec with a bpp/bcr rate target or rate "
                                      f"points")
        named = {p for p, _ in lp.protect}
        if not named:
            continue
        parts = {}
        for e in served:
            if e.label not in parts:
                parts[e.label] = tuple(get_codec(e.codec, **dict(e.options)).part_names())
        known = {p for v in parts.values() for p in v}
        bad = sorted(named - known)
        if bad:
            listing = "; ".join(f"{label}: {', '.join(v) if v else '(parts not declared)'}" for label, v in parts.items())
            raise ConfigError(f"link.protect: unknown part(s) {bad}; the codecs' parts are {listing}")
