"""A sweep's fingerprint: everything that decides its rows besides the row keys, so that a
resumed sweep never mixes rows of two different runs.

A row key names the item, the codec label, its options and rate, the link, the SNR and the
trial. What it does not name is in the fingerprint (``OUT/fingerprint.json``, written when a
sweep starts):

* the spec's settings that are not swept axes: ``seed``, the dataset, its options and the set
  composition (``sets``, ``set_size``), the metrics and the perceptual choice, the plug-ins
  (with the sha256 of plug-in files);
* the versions of semlink and of the libraries that make the numbers (Sionna, PyTorch, NumPy,
  CompressAI);
* per codec label, the codec's fingerprint: its class, its tool and version string, and the
  sha256 of every model file it loads (a checkpoint or manifest given as an option; else the
  digests of the shipped zoo entries it loads, ``Codec.zoo_codecs``: retraining one model
  invalidates only the rows of the codecs that load it).

A resume whose fingerprint differs stops with a :class:`~semlink.errors.ConfigError` that names
what changed (``--fresh`` starts over). Adding SNRs, trials, items, codecs or links is not a
change: their rows are new keys. The encoding cache shared by the workers is keyed by the codec
fingerprint too, so a retrained model never reuses old encodings.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from semlink.cache import sha256_file
from semlink.errors import ConfigError

FILE = "fingerprint.json"
PACKAGES = ("semlink", "sionna-no-rt", "torch", "numpy", "compressai")


def _versions() -> dict[str, str]:
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = ""
    return out


def zoo_digests(codecs: tuple[str, ...]) -> dict[str, str]:
    """``{"zoo:NAME": sha256}`` of the shipped zoo's entries whose ``codec`` is in ``codecs`` (the
    digests the loaders check), ``{"zoo:CODEC": "none"}`` for a codec the zoo has no entry for."""
    from semlink.zoo.checkpoints import read_manifest

    models, _ = read_manifest()
    out = {f"zoo:{m['name']}": m["sha256"] for m in models if m.get("codec") in codecs}
    for c in codecs:
        if not any(m.get("codec") == c for m in models):
            out[f"zoo:{c}"] = "none"
    return out


def codec_fingerprint(name: str, options: dict | tuple = ()) -> dict[str, Any]:
    """What decides a codec's rows besides its rate: class, tool and version, what a lost packet
    gives (``on_loss``, resolved with the defaults), model files."""
    from semlink.codecs import get_codec

    options = dict(options)
    codec = get_codec(name, **options)
    cls = type(codec)
    fp: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}"}
    tool = getattr(codec, "tool", None)
    if callable(tool):
        try:
            fp["tool"] = tool()
        except Exception as exc:  # noqa: BLE001 - a codec whose models are missing: its row will say so
            fp["tool"] = f"unavailable: {type(exc).__name__}"
    on_loss = getattr(codec, "on_loss", None)
    if on_loss is not None:  # what a lost packet gives: defaults change between releases
        fp["on_loss"] = str(on_loss)
    files = {}
    for key, value in sorted(options.items()):
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            p = Path(str(v)).expanduser()
            if isinstance(v, str) and p.is_file():
                files[f"{key}:{v}"] = sha256_file(p)
            elif isinstance(v, str) and (p / "manifest.json").is_file():
                files[f"{key}:{v}"] = sha256_file(p / "manifest.json")
    zoo_codecs = getattr(cls, "zoo_codecs", ())
    if zoo_codecs and not any(k.startswith("manifest:") for k in files):
        files.update(zoo_digests(zoo_codecs))
    if files:
        fp["files"] = files
    return fp


def sweep_fingerprint(spec) -> dict[str, Any]:
    """The fingerprint of a :class:`~semlink.sweep.spec.SweepSpec` (see the module docstring)."""
    plugins = {}
    for p in spec.plugins:
        plugins[p] = sha256_file(p) if Path(p).is_file() else "module"
    codecs = {}
    for e in spec.codec_entries:
        codecs[e.label] = codec_fingerprint(e.codec, e.options)
    return {"seed": spec.seed, "dataset": spec.dataset, "dataset_options": spec.dataset_options,
            "sets": spec.sets, "set_size": spec.set_size, "metrics": list(spec.metrics), "perceptual": spec.perceptual,
            "plugins": plugins, "versions": _versions(), "codecs": codecs}


def digest(fp: dict) -> str:
    """Short hex digest of a fingerprint (or of any JSON-able value)."""
    return hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()[:16]


def changes(old: dict, new: dict) -> list[str]:
    """What differs between a stored and a new fingerprint, in words (new codec labels are not a change)."""
    out = []
    for k in sorted(set(old) | set(new)):
        if k == "codecs":
            for label in sorted(set(old.get(k, {})) & set(new.get(k, {}))):
                a, b = old[k][label], new[k][label]
                for field in sorted(set(a) | set(b)):
                    if a.get(field) != b.get(field):
                        out.append(f"codec {label!r} {field}: {a.get(field)} -> {b.get(field)}")
        elif old.get(k) != new.get(k):
            out.append(f"{k}: {old.get(k)} -> {new.get(k)}")
    return out


def check_or_write(out_dir: Path, fp: dict, has_rows: bool) -> None:
    """Write ``OUT/fingerprint.json``; when the folder already holds rows, first check that they
    were made with the same fingerprint (ConfigError naming what changed)."""
    path = Path(out_dir) / FILE
    if has_rows and path.is_file():
        old = json.loads(path.read_text())
        diff = changes(old, json.loads(json.dumps(fp, default=str)))
        if diff:
            raise ConfigError(f"{out_dir} holds rows of another run: " + "; ".join(diff[:8])
                              + (f" (and {len(diff) - 8} more)" if len(diff) > 8 else ""),
                              hint="--fresh starts over; or give another out folder")
        merged = {**old, "codecs": {**old.get("codecs", {}), **fp.get("codecs", {})}}
        fp = merged
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(fp, indent=1, sort_keys=True, default=str) + "\n")
    tmp.replace(path)
