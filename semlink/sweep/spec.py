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
    bpp = 0.3                      # one rate key: bpp | quality | bitrate | bcr | crf | qp (list ok)

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
* ``[link] cbr = X`` (phy mode): a fixed budget of data REs per source symbol. A codec with a
  ``bpp`` (images) or ``bcr`` (clips) target is coded at the largest target that fits; a set codec,
  or a codec with rate points only, sends the largest of its rate points whose parts fit (else the
  smallest, not sent: an outage).

Everything is validated before anything runs: codec kind vs dataset kind, rate keys the codec
accepts, codec options, part names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semlink.phy.ber import parse_snr_list
from semlink.phy.config import LinkConfig, OFDMGrid

TOP_KEYS = {"name", "out", "seed", "trials", "snr_db", "dataset", "codec", "link", "metrics", "perceptual", "plugins"}
DATASET_KEYS = {"name", "items", "max_items", "options", "path", "sets", "set_size"}
RATE_KEYS = ("bpp", "quality", "bitrate", "bcr", "crf", "qp")
CODEC_KEYS = {"name", "options", "label", *RATE_KEYS}
METRICS = ("psnr", "ms_ssim", "perceptual")
LINK_FIELDS = {f.name for f in dataclasses.fields(LinkConfig)}
IDEAL_KEYS = {"mode", "cbr", "fading"}
#: link settings a part may override under ``[link.protect]``
PROTECT_FIELDS = ("code", "modulation", "codewords_per_packet", "num_iter", "demapping", "decoder")


@dataclass(frozen=True)
class CodecPoint:
    """One codec at one rate point (``rate_key=None`` in ideal mode: all candidate rates)."""

    codec: str
    label: str
    options: tuple[tuple[str, Any], ...]
    rate_key: str | None
    rate_value: Any
    candidates: tuple[Any, ...] = ()

    @property
    def rate_label(self) -> str:
        if self.rate_key is None:
            return "cbr" if self.candidates and self.candidates[0] == "cbr" else "auto"
        return f"{self.rate_key}={self.rate_value:g}" if isinstance(self.rate_value, (int, float)) else f"{self.rate_key}={self.rate_value}"

    def rate_kwargs(self) -> dict:
        return {self.rate_key: self.rate_value} if self.rate_key else {}


@dataclass(frozen=True)
class LinkPoint:
    """One link configuration: ``mode`` "phy" (``config``) or "ideal" (``cbr``, ``fading``)."""

    mode: str
    config: LinkConfig | None = None
    cbr: float | None = None
    fading: str = "awgn"
    #: unequal error protection: ((part, ((field, value), ...)), ...), sorted
    protect: tuple = ()
    #: link adaptation: the BLER target (the MCS is chosen per SNR from a measured table); None = fixed MCS
    adapt_bler: float | None = None

    def protect_dict(self) -> dict[str, dict]:
        return {part: dict(ov) for part, ov in self.protect}

    def part_config(self, part: str) -> LinkConfig:
        """The link configuration ``part`` is sent with."""
        ov = self.protect_dict().get(part)
        return dataclasses.replace(self.config, **ov) if ov else self.config

    @property
    def key(self) -> str:
        """Stable short id of the configuration (part of every row key)."""
        return hashlib.sha1(json.dumps(self.describe_dict(), sort_keys=True, default=str).encode()).hexdigest()[:10]

    def describe_dict(self) -> dict:
        if self.mode == "ideal":
            return {"mode": "ideal", "cbr": self.cbr, "fading": self.fading}
        d = dataclasses.asdict(self.config)
        d["mode"] = "phy"
        if self.cbr is not None:
            d["cbr"] = self.cbr
        if self.adapt_bler is not None:
            d["adapt_bler"] = self.adapt_bler
            d.pop("modulation"), d.pop("code")
        if self.protect:
            d["protect"] = self.protect_dict()
        return d

    def label(self) -> str:
        if self.mode == "ideal":
            return f"ideal, CBR={self.cbr:.4g}, {self.fading}"
        c = self.config
        uep = "".join(f", {p}: {ov.get('modulation', c.modulation)} {ov.get('code', c.code)}" for p, ov in self.protect_dict().items())
        budget = f", CBR={self.cbr:.4g}" if self.cbr is not None else ""
        if self.adapt_bler is not None:
            return f"{c.channel}, adaptive MCS (BLER<={self.adapt_bler:g}), {c.estimator}+{c.equalizer}{budget}{uep}"
        return f"{c.channel}, {c.modulation}, {c.code}, {c.estimator}+{c.equalizer}{budget}{uep}"


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
    codecs: list[CodecPoint]
    links: list[LinkPoint]
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
    def hash(self) -> str:
        """Hash of the spec's content (provenance column ``spec_hash``)."""
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _as_list(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _unknown(where: str, keys, allowed) -> None:
    bad = sorted(set(keys) - set(allowed))
    if bad:
        raise ValueError(f"{where}: unknown key(s) {bad}; allowed: {', '.join(sorted(allowed))}")


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML sweep spec."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"spec file {str(path)!r} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML: {e}") from None
    return parse_spec(raw, default_name=path.stem, path=path)


def parse_spec(raw: dict, default_name: str = "sweep", path: Path | None = None) -> SweepSpec:
    """Validate a spec given as a dict (the TOML's content). Plug-ins are imported first."""
    from semlink.plugins import load_plugins, resolve_plugins

    _unknown("spec", raw, TOP_KEYS)
    plugins = raw.get("plugins", [])
    if not isinstance(plugins, list):
        raise ValueError(f"plugins must be a list of module names or .py files, got {plugins!r}")
    plugins = resolve_plugins(plugins)
    load_plugins(plugins)
    name = str(raw.get("name", default_name))
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    trials = raw.get("trials", 1)
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive int, got {trials!r}")
    if "snr_db" not in raw:
        raise ValueError("snr_db is required (list of dB values or 'start:stop:step')")
    snr = raw["snr_db"]
    snrs = parse_snr_list(snr) if isinstance(snr, str) else [float(x) for x in _as_list(snr)]
    if not snrs:
        raise ValueError("snr_db is empty")
    out = Path(raw.get("out", f"results/{name}"))

    ds = raw.get("dataset")
    if not isinstance(ds, dict) or "name" not in ds:
        raise ValueError("[dataset] with a name is required")
    _unknown("[dataset]", ds, DATASET_KEYS)
    from semlink.data import list_datasets

    if ds["name"] not in list_datasets():
        raise ValueError(f"dataset.name={ds['name']!r} is unknown; registered: {', '.join(list_datasets())}")
    items = ds.get("items")
    if items is not None and (not isinstance(items, list) or not all(isinstance(x, str) for x in items)):
        raise ValueError("dataset.items must be a list of item names")
    max_items = ds.get("max_items")
    if max_items is not None and (not isinstance(max_items, int) or max_items < 1):
        raise ValueError(f"dataset.max_items must be a positive int, got {max_items!r}")
    ds_opts = ds.get("options", {})
    if not isinstance(ds_opts, dict):
        raise ValueError("dataset.options must be a table")
    ds_opts = dict(ds_opts)
    if "path" in ds:
        if not isinstance(ds["path"], str) or not ds["path"]:
            raise ValueError(f"dataset.path must be a folder path, got {ds['path']!r}")
        if "path" in ds_opts:
            raise ValueError("give dataset.path or dataset.options.path, not both")
        ds_opts["path"] = str(Path(ds["path"]).expanduser().resolve())
    sets = ds.get("sets", False)
    if not isinstance(sets, bool):
        raise ValueError(f"dataset.sets must be true or false, got {sets!r}")
    set_size = ds.get("set_size")
    if set_size is not None and (not isinstance(set_size, int) or isinstance(set_size, bool) or set_size < 1):
        raise ValueError(f"dataset.set_size must be a positive int, got {set_size!r}")
    if sets and set_size is not None:
        raise ValueError("give dataset.sets = true (one set per subfolder) or dataset.set_size, not both")
    dataset = _build_dataset(ds["name"], ds_opts)
    names = [it.name for it in dataset]
    if items is not None:
        missing = sorted(set(items) - set(names))
        if missing:
            shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
            raise ValueError(f"dataset.items: {missing} not in dataset {ds['name']!r} (has: {shown})")
    if sets and ds["name"] != "folder":
        raise ValueError(f"dataset.sets = true needs a folder dataset (one set per subfolder); for {ds['name']!r} use set_size")
    if (sets or set_size) and dataset.kind != "image":
        raise ValueError(f"image sets need an image dataset; {ds['name']!r} holds {dataset.kind} items")

    metrics = tuple(raw.get("metrics", METRICS))
    _unknown("metrics", metrics, METRICS)
    perceptual = raw.get("perceptual", "auto")
    if perceptual not in ("auto", "lpips", "st_lpips"):
        raise ValueError(f"perceptual={perceptual!r} is not allowed; choose auto, lpips, st_lpips")

    link_raw = raw.get("link")
    if isinstance(link_raw, list) and link_raw and all(isinstance(x, dict) for x in link_raw):
        links = [lp for x in link_raw for lp in _parse_links(x)]  # [[link]] tables: their union
    elif isinstance(link_raw, dict):
        links = _parse_links(link_raw)
    else:
        raise ValueError("[link] (or [[link]] tables) is required")
    if len({lp.mode for lp in links}) > 1:
        raise ValueError("[[link]] tables must share one mode (phy or ideal): put the ideal link in its own spec")
    if len({lp.cbr is None for lp in links if lp.mode == "phy"}) > 1:
        raise ValueError("[[link]] tables must all give link.cbr or none (a CBR fixes how the codecs are rated)")
    ideal = links[0].mode == "ideal"
    budget = links[0].mode == "phy" and links[0].cbr is not None
    codecs = _parse_codecs(raw.get("codec"), ideal, dataset.kind, ds["name"], sets or set_size is not None, budget)
    _check_protect(links, codecs)
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
        raise ValueError(f"dataset {name!r}: {e}") from None


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


def _parse_codecs(entries, ideal: bool, dataset_kind: str, dataset_name: str, with_sets: bool,
                  budget: bool = False) -> list[CodecPoint]:
    from semlink.codecs import codec_class, get_codec, list_codecs

    if not entries:
        raise ValueError("at least one [[codec]] is required")
    out = []
    for i, c in enumerate(_as_list(entries)):
        where = f"codec[{i}]"
        if not isinstance(c, dict) or "name" not in c:
            raise ValueError(f"{where}: a table with a name is required")
        _unknown(where, c, CODEC_KEYS)
        name = c["name"]
        if name not in list_codecs():
            raise ValueError(f"{where}.name={name!r} is unknown; registered codecs: {', '.join(list_codecs())}")
        kind = getattr(codec_class(name), "kind", None)
        if kind != dataset_kind:
            raise ValueError(f"{where}: codec {name!r} codes {kind} items but dataset {dataset_name!r} holds {dataset_kind} items")
        opts = c.get("options", {})
        if not isinstance(opts, dict):
            raise ValueError(f"{where}.options must be a table")
        try:
            codec = get_codec(name, **opts)  # validates the options
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        if codec.codes_sets and not with_sets:
            raise ValueError(f"{where}: codec {name!r} codes image sets; give [dataset] sets = true (folder dataset, "
                             f"one set per subfolder) or set_size = N")
        keys = [k for k in RATE_KEYS if k in c]
        if len(keys) > 1:
            raise ValueError(f"{where}: give one rate key, got {keys}")
        accepted = tuple(codec.rate_keys)
        label = str(c.get("label", name))
        frozen = tuple(sorted((k, _freeze(v)) for k, v in opts.items()))
        if budget:
            if keys:
                raise ValueError(f"{where}: link.cbr fixes the channel uses, and so the rate: remove {keys[0]} "
                                 f"(the codec is coded at the largest rate that fits)")
            fit = "bcr" if codec.kind == "video" else "bpp"
            if fit in accepted and not codec.codes_sets:
                out.append(CodecPoint(name, label, frozen, None, None, ("cbr", ())))
                continue
            # no continuous rate target (or a set codec): the largest of its rate points that fits
            points = list(codec.rate_points())
            if not points:
                raise ValueError(f"{where}: link.cbr needs a codec with a {fit} rate target or rate points; {name!r} "
                                 f"accepts {', '.join(accepted) or 'no declared rate'} and lists no rate points")
            out.append(CodecPoint(name, label, frozen, None, None, ("cbr", (codec.native_rate_key, tuple(points)))))
            continue
        if not keys:
            points = list(codec.rate_points())
            if not points:
                raise ValueError(f"{where}: no rate given and codec {name!r} has no default rate points; "
                                 f"give one of {list(accepted) or list(RATE_KEYS)}")
            key, values = codec.native_rate_key, points
        else:
            key, values = keys[0], _as_list(c[keys[0]])
            if accepted and key not in accepted:
                raise ValueError(f"{where}: codec {name!r} takes no rate {key!r}; it accepts {', '.join(accepted)}")
        for v in values:
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{where}.{key}: rates must be positive numbers, got {v!r}")
        if ideal:
            out.append(CodecPoint(name, label, frozen, None, None, (key, tuple(values))))
        else:
            out.extend(CodecPoint(name, label, frozen, key, v) for v in values)
    return out


def _check_protect(links: list[LinkPoint], codecs: list[CodecPoint]) -> None:
    """Every part named in ``[link.protect]`` must be a part of some codec of the spec."""
    from semlink.codecs import get_codec

    named = {p for lp in links for p, _ in lp.protect}
    if not named:
        return
    parts = {}
    for cp in codecs:
        if cp.label not in parts:
            parts[cp.label] = tuple(get_codec(cp.codec, **dict(cp.options)).part_names())
    known = {p for v in parts.values() for p in v}
    unknown = sorted(named - known)
    if unknown:
        listing = "; ".join(f"{label}: {', '.join(v) if v else '(parts not declared)'}" for label, v in parts.items())
        raise ValueError(f"link.protect: unknown part(s) {unknown}; the codecs' parts are {listing}")


def _parse_links(raw: dict) -> list[LinkPoint]:
    mode = raw.get("mode", "phy")
    if mode not in ("phy", "ideal"):
        raise ValueError(f"link.mode={mode!r} is not allowed; choose 'phy' or 'ideal'")
    if mode == "ideal":
        if "protect" in raw:
            raise ValueError("link.protect (unequal error protection) needs mode = 'phy': the ideal link has no code or modulation")
        _unknown("[link] (mode ideal)", raw, IDEAL_KEYS)
        if "cbr" not in raw:
            raise ValueError("link.cbr is required in ideal mode (channel uses per source symbol, e.g. 0.0333)")
        out = []
        for cbr, fading in itertools.product(_as_list(raw["cbr"]), _as_list(raw.get("fading", "awgn"))):
            if not isinstance(cbr, (int, float)) or cbr <= 0:
                raise ValueError(f"link.cbr must be positive, got {cbr!r}")
            if fading not in ("awgn", "rayleigh"):
                raise ValueError(f"link.fading={fading!r} is not allowed; choose awgn, rayleigh")
            out.append(LinkPoint("ideal", cbr=float(cbr), fading=fading))
        return out
    fields = {k: v for k, v in raw.items() if k not in ("mode", "protect", "cbr", "adapt_bler")}
    _unknown("[link]", fields, LINK_FIELDS | {"cbr", "protect", "adapt_bler"})
    adapt = raw.get("adapt_bler")
    if adapt is not None:
        if not isinstance(adapt, (int, float)) or isinstance(adapt, bool) or not 0 < adapt < 0.5:
            raise ValueError(f"link.adapt_bler must be a BLER target in (0, 0.5), e.g. 0.01, got {adapt!r}")
        given = sorted({"modulation", "code"} & set(fields))
        if given:
            raise ValueError(f"link.adapt_bler chooses the modulation and code per SNR: remove link.{given[0]}")
    cbrs = _as_list(raw["cbr"]) if "cbr" in raw else [None]
    for c in cbrs:
        if c is not None and (not isinstance(c, (int, float)) or isinstance(c, bool) or not 0 < c <= 10):
            raise ValueError(f"link.cbr must be a positive number of data resource elements per source symbol, got {c!r}")
    protect_raw = raw.get("protect", {})
    if not isinstance(protect_raw, dict):
        raise ValueError("link.protect must be a table of part = { setting = value, ... }")
    # dict-valued fields (grid, channel_params) are single values unless given as a list of tables
    names = sorted(fields)
    choices = []
    for k in names:
        v = fields[k]
        if k == "grid" and isinstance(v, dict):
            choices.append([OFDMGrid(**_listify_grid(v))])
        else:
            choices.append(_as_list(v) if not isinstance(v, dict) else [v])
    out = []
    for combo in itertools.product(*choices):
        kw = dict(zip(names, combo))
        if isinstance(kw.get("grid"), dict):
            kw["grid"] = OFDMGrid(**_listify_grid(kw["grid"]))
        try:
            cfg = LinkConfig(**kw)
        except TypeError as e:
            raise ValueError(f"[link]: {e}") from None
        protect = []
        for part, ov in sorted(protect_raw.items()):
            if not isinstance(ov, dict) or not ov:
                raise ValueError(f"link.protect.{part} must be a table of link settings, e.g. {{ code = \"80211n-648-1/2\" }}")
            _unknown(f"link.protect.{part}", ov, PROTECT_FIELDS)
            try:
                dataclasses.replace(cfg, **ov)  # validates the values
            except (TypeError, ValueError) as e:
                raise ValueError(f"link.protect.{part}: {e}") from None
            protect.append((part, tuple(sorted(ov.items()))))
        for c in cbrs:
            out.append(LinkPoint("phy", config=cfg, cbr=None if c is None else float(c), protect=tuple(protect),
                                 adapt_bler=None if adapt is None else float(adapt)))
    return out


def _listify_grid(g: dict) -> dict:
    allowed = {f.name for f in dataclasses.fields(OFDMGrid)}
    _unknown("link.grid", g, allowed)
    return dict(g)
