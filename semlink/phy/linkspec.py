"""Serialisable link descriptions that build a :class:`~semlink.phy.transport.Transport`.

A spec's ``[link]`` table (or each ``[[link]]`` table) becomes one or more link specs (lists in
the table are swept):

* :class:`PhyLinkSpec` — the explicit digital link: a :class:`~semlink.phy.config.LinkConfig`,
  optional unequal error protection (``protect``: part name -> the settings that differ), an
  optional channel-use budget (``cbr``: data resource elements per source symbol) and optional
  link adaptation (``adapt_bler``: the MCS is chosen per SNR from a measured BLER table).
* :class:`IdealLinkSpec` — the capacity-achieving link (``cbr`` channel uses per source symbol,
  ``fading`` "awgn" or "rayleigh").

Both have ``key`` (a stable id that is part of every row key), ``label()`` (the legend),
``columns()`` (the results table's link columns), ``build(links)`` (the transport, links built
once per configuration through a :class:`LinkCache`) and ``codecs`` (the codec labels the link
serves; empty = every codec) and ``name``, which are not part of the key.

``budget`` is the rule for image sets over a budgeted link (the ideal link, or ``cbr`` on the PHY),
one rule for every codec of the spec: ``"item"`` (default): every image has its own channel uses,
a set codec's shared parts are apportioned equally to its images and the set is sent only when
every image fits (else: an outage of the whole set); ``"set"``: the images of a set pool the set's
channel uses (a set codec is judged on the whole set). With ``"set"``, per-image codecs would have
to allocate per-image rates jointly, which semlink does not do yet: a spec that combines them is
refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from semlink.errors import ConfigError
from semlink.phy.config import LinkConfig, OFDMGrid

#: link settings a part may override under ``[link.protect]``
PROTECT_FIELDS = ("code", "modulation", "codewords_per_packet", "num_iter", "demapping", "decoder")
LINK_FIELDS = {f.name for f in dataclasses.fields(LinkConfig)}
#: keys of a [link] table beside the LinkConfig fields
PHY_KEYS = {"mode", "cbr", "protect", "adapt_bler", "codecs", "name", "budget"}
IDEAL_KEYS = {"mode", "cbr", "fading", "codecs", "name", "budget"}
FADINGS = ("awgn", "rayleigh")


class LinkCache:
    """Links built (and warmed up: JIT kernels, covariance estimates) once per configuration.

    ``get(config) -> (Link, seconds spent building it now; 0 when cached)``.
    """

    def __init__(self) -> None:
        self._links: dict[str, Any] = {}

    def get(self, config: LinkConfig):
        from semlink.phy.link import Link

        k = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
        if k in self._links:
            return self._links[k], 0.0
        t0 = time.perf_counter()
        link = Link(config)
        link.transmit(bytes(64), 10.0, np.random.default_rng(0))  # JIT / kernel caches, off the rows' clock
        self._links[k] = link
        return link, time.perf_counter() - t0

    def clear(self) -> None:
        self._links.clear()


def _key(describe: dict) -> str:
    return hashlib.sha1(json.dumps(describe, sort_keys=True, default=str).encode()).hexdigest()[:10]


class _SpecCommon:
    """What both link specs share: the row-key id, the codecs served and the budget rule."""

    codecs: tuple[str, ...]
    budget: str

    def settings(self) -> dict:  # pragma: no cover - every spec defines it
        raise NotImplementedError

    def describe_dict(self) -> dict:
        """The settings that make the link (the budget rule only where it is not the default)."""
        d = self.settings()
        if self.budget != "item":
            d["budget"] = self.budget
        return d

    @property
    def key(self) -> str:
        """Stable short id of the configuration (part of every row key; ``codecs``/``name`` excluded)."""
        return _key(self.describe_dict())

    def applies_to(self, codec_label: str) -> bool:
        return not self.codecs or codec_label in self.codecs


@dataclass(frozen=True)
class PhyLinkSpec(_SpecCommon):
    """The explicit digital link (see the module docstring)."""

    config: LinkConfig
    #: unequal error protection: ((part, ((field, value), ...)), ...), sorted
    protect: tuple = ()
    cbr: float | None = None
    adapt_bler: float | None = None
    codecs: tuple[str, ...] = ()
    name: str = ""
    #: the budget rule for image sets: "item" (each image its own channel uses) or "set" (pooled)
    budget: str = "item"

    mode = "phy"

    def protect_dict(self) -> dict[str, dict]:
        return {part: dict(ov) for part, ov in self.protect}

    def part_config(self, part: str) -> LinkConfig:
        """The link configuration ``part`` is sent with."""
        ov = self.protect_dict().get(part)
        return dataclasses.replace(self.config, **ov) if ov else self.config

    def settings(self) -> dict:
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
        c = self.config
        uep = "".join(f", {p}: {ov.get('modulation', c.modulation)} {ov.get('code', c.code)}"
                      for p, ov in self.protect_dict().items())
        budget = f", CBR={self.cbr:.4g}" if self.cbr is not None else ""
        if self.adapt_bler is not None:
            return f"{c.channel}, adaptive MCS (BLER<={self.adapt_bler:g}), {c.estimator}+{c.equalizer}{budget}{uep}"
        return f"{c.channel}, {c.modulation}, {c.code}, {c.estimator}+{c.equalizer}{budget}{uep}"

    def columns(self) -> dict:
        c = self.config
        return {"channel": c.channel, "modulation": c.modulation, "code": c.code, "estimator": c.estimator,
                "equalizer": c.equalizer, "domain": c.domain, "decoder": c.decoder,
                "channel_params": json.dumps(c.channel_params, sort_keys=True)}

    def at_snr(self, snr_db: float, grid: list[float]) -> tuple["PhyLinkSpec", str]:
        """Link adaptation: the spec with the MCS chosen for ``snr_db`` from the cached (else
        measured) BLER table of this channel and receiver on ``grid`` [dB], and the MCS name
        ("outage" when none meets the target: the lowest MCS is returned)."""
        from semlink.phy.mcs import MCS_LIST, cached_table, mcs_config, mcs_name

        table, _ = cached_table(self.config, grid, self.adapt_bler)
        name = table.choose(snr_db)
        cfg = mcs_config(self.config, name or mcs_name(*MCS_LIST[0]))
        return dataclasses.replace(self, config=cfg, adapt_bler=None), name or "outage"

    def build(self, links: LinkCache | None = None):
        """(the :class:`~semlink.phy.transport.PhyTransport`, seconds spent building links now)."""
        from semlink.phy.transport import PhyTransport

        links = links if links is not None else LinkCache()
        default, spent = links.get(self.config)
        by_part = {}
        for p, _ in self.protect:
            by_part[p], s = links.get(self.part_config(p))
            spent += s
        return PhyTransport(default, by_part, self.protect_dict(), self.cbr, budget_rule=self.budget), spent


@dataclass(frozen=True)
class IdealLinkSpec(_SpecCommon):
    """The capacity-achieving link (see the module docstring)."""

    cbr: float
    fading: str = "awgn"
    codecs: tuple[str, ...] = ()
    name: str = ""
    #: the budget rule for image sets: "item" (each image its own channel uses) or "set" (pooled)
    budget: str = "item"

    mode = "ideal"
    adapt_bler = None
    protect = ()

    def settings(self) -> dict:
        return {"mode": "ideal", "cbr": self.cbr, "fading": self.fading}

    def label(self) -> str:
        return f"ideal, CBR={self.cbr:.4g}, {self.fading}"

    def columns(self) -> dict:
        return {"channel": self.fading, "modulation": "ideal", "code": "capacity-achieving", "estimator": "",
                "equalizer": "", "cbr_budget": self.cbr}

    def build(self, links: LinkCache | None = None):
        from semlink.phy.ideal import IdealLink
        from semlink.phy.transport import IdealTransport

        return IdealTransport(IdealLink(self.cbr, self.fading), self.budget), 0.0


LinkSpec = PhyLinkSpec | IdealLinkSpec


# ------------------------------------------------------------------------------ parsing
def _as_list(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _unknown(where: str, keys, allowed) -> None:
    bad = sorted(set(keys) - set(allowed))
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {bad}", allowed=sorted(allowed))


def _served(raw: dict, where: str) -> tuple[tuple[str, ...], str]:
    codecs = raw.get("codecs", [])
    if not isinstance(codecs, list) or not all(isinstance(c, str) and c for c in codecs):
        raise ConfigError(f"{where}.codecs must be a list of codec labels, got {codecs!r}")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"{where}.name must be a string, got {name!r}")
    return tuple(codecs), name


def parse_links(raw: dict | list, where: str = "[link]") -> list[LinkSpec]:
    """The link specs of a ``[link]`` table or a list of ``[[link]]`` tables (their union)."""
    if isinstance(raw, list) and raw and all(isinstance(x, dict) for x in raw):
        return [lp for i, x in enumerate(raw) for lp in parse_links(x, f"link[{i}]")]
    if not isinstance(raw, dict):
        raise ConfigError("[link] (or [[link]] tables) is required")
    mode = raw.get("mode", "phy")
    if mode not in ("phy", "ideal"):
        raise ConfigError(f"link.mode={mode!r} is not allowed", allowed=["phy", "ideal"])
    codecs, name = _served(raw, where)
    budget = raw.get("budget", "item")
    if budget not in ("item", "set"):
        raise ConfigError(f"{where}.budget={budget!r} is not a budget rule", allowed=("item", "set"))
    if mode == "ideal":
        if "protect" in raw:
            raise ConfigError("link.protect (unequal error protection) needs mode = 'phy': the ideal link has no "
                              "code or modulation")
        _unknown("[link] (mode ideal)", raw, IDEAL_KEYS)
        if "cbr" not in raw:
            raise ConfigError("link.cbr is required in ideal mode (channel uses per source symbol, e.g. 0.0333)")
        out = []
        for cbr, fading in itertools.product(_as_list(raw["cbr"]), _as_list(raw.get("fading", "awgn"))):
            if not isinstance(cbr, (int, float)) or cbr <= 0:
                raise ConfigError(f"link.cbr must be positive, got {cbr!r}")
            if fading not in FADINGS:
                raise ConfigError(f"link.fading={fading!r} is not allowed", allowed=FADINGS)
            out.append(IdealLinkSpec(float(cbr), fading, codecs, name, budget))
        return out
    fields = {k: v for k, v in raw.items() if k not in PHY_KEYS}
    _unknown("[link]", fields, LINK_FIELDS)
    adapt = raw.get("adapt_bler")
    if adapt is not None:
        if not isinstance(adapt, (int, float)) or isinstance(adapt, bool) or not 0 < adapt < 0.5:
            raise ConfigError(f"link.adapt_bler must be a BLER target in (0, 0.5), e.g. 0.01, got {adapt!r}")
        given = sorted({"modulation", "code"} & set(fields))
        if given:
            raise ConfigError(f"link.adapt_bler chooses the modulation and code per SNR: remove link.{given[0]}")
    cbrs = _as_list(raw["cbr"]) if "cbr" in raw else [None]
    for c in cbrs:
        if c is not None and (not isinstance(c, (int, float)) or isinstance(c, bool) or not 0 < c <= 10):
            raise ConfigError(f"link.cbr must be a positive number of data resource elements per source symbol, "
                              f"got {c!r}")
    protect_raw = raw.get("protect", {})
    if not isinstance(protect_raw, dict):
        raise ConfigError("link.protect must be a table of part = { setting = value, ... }")
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
            raise ConfigError(f"[link]: {e}") from None
        protect = []
        for part, ov in sorted(protect_raw.items()):
            if not isinstance(ov, dict) or not ov:
                raise ConfigError(f"link.protect.{part} must be a table of link settings, e.g. "
                                  f"{{ code = \"80211n-648-1/2\" }}")
            _unknown(f"link.protect.{part}", ov, PROTECT_FIELDS)
            try:
                dataclasses.replace(cfg, **ov)  # validates the values
            except (TypeError, ValueError) as e:
                raise ConfigError(f"link.protect.{part}: {e}") from None
            protect.append((part, tuple(sorted(ov.items()))))
        for c in cbrs:
            out.append(PhyLinkSpec(cfg, tuple(protect), None if c is None else float(c),
                                   None if adapt is None else float(adapt), codecs, name, budget))
    return out


def _listify_grid(g: dict) -> dict:
    allowed = {f.name for f in dataclasses.fields(OFDMGrid)}
    _unknown("link.grid", g, allowed)
    return dict(g)
