"""Checkpoint files of the model zoo: save (half precision), verify (sha256), load (float32).

A checkpoint is a ``torch.save`` dict (read back with ``weights_only=True``, so loading never
runs pickled code)::

    {"format": "semlink-checkpoint/1", "arch": "ScaleHyperprior", "config": {"N": 128, "M": 192},
     "meta": {...training facts...}, "state_dict": {name: tensor}}

Floating-point weights are stored as float16 (halves the file) and come back as float32;
integer buffers (the entropy coder's quantized CDF tables) and the tensors named in
``KEEP_FP32`` are stored exactly. The manifest (``semlink/zoo/manifest.json``) lists every
shipped file with its sha256; :func:`load_checkpoint` refuses a missing or altered file with
an error that names the file and the expected digest.

>>> ckpt = load_checkpoint("hyperprior")               # by manifest name
>>> ckpt = read_checkpoint("runs/q1/hyperprior.pt")    # a user-trained file (no digest to check)
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from semlink.cache import sha256_file  # noqa: F401  (part of the zoo API)
from semlink.errors import ConfigError

FORMAT = "semlink-checkpoint/1"

#: State-dict entries kept in float32 even in a half-precision file (tiny; they define the
#: entropy model's probability tables and quantization offsets exactly).
KEEP_FP32 = ("quantiles", "scale_table", "scale_bound", "target", "_offset", "_quantized_cdf", "_cdf_length")


class CheckpointError(ConfigError):
    """A checkpoint is missing, altered (sha256 mismatch) or not a semlink checkpoint."""


def zoo_dir() -> Path:
    """Directory of the shipped zoo (``semlink/zoo``: ``manifest.json`` and the ``*.pt`` files)."""
    return Path(str(resources.files("semlink.zoo")))


def read_manifest(path: str | os.PathLike | None = None) -> tuple[list[dict], Path]:
    """Entries of a manifest and the directory its ``file`` fields are relative to.

    Args:
        path: a ``manifest.json`` or a directory holding one; default: the shipped zoo.
    """
    p = Path(path) if path is not None else zoo_dir()
    if p.is_dir():
        p = p / "manifest.json"
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"manifest not found: {p}") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"manifest {p} is not valid JSON: {exc}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise CheckpointError(f"manifest {p} has no 'models' list")
    return models, p.parent


def find_entry(name: str, manifest: str | os.PathLike | None = None) -> tuple[dict, Path]:
    """Manifest entry called ``name`` and the directory of its file.

    Raises:
        CheckpointError: no such entry (the message lists the names there are).
    """
    models, root = read_manifest(manifest)
    for entry in models:
        if entry.get("name") == name:
            return entry, root
    names = ", ".join(str(e.get("name")) for e in models) or "none"
    raise CheckpointError(f"no checkpoint named {name!r} in the manifest ({root}); listed: {names}")


def verify_file(path: str | os.PathLike, sha256: str) -> Path:
    """Check that ``path`` exists and has digest ``sha256``.

    Raises:
        CheckpointError: missing file, or a different digest (both named in the message).
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(
            f"checkpoint file {p} is missing (expected sha256 {sha256}); reinstall semlink or "
            f"retrain it with `semlink train hyperprior`"
        )
    actual = sha256_file(p)
    if actual != sha256:
        raise CheckpointError(
            f"checkpoint file {p} is corrupt or altered: sha256 {actual}, expected {sha256}"
        )
    return p


def _is_float(t) -> bool:
    return t.is_floating_point()


def save_checkpoint(
    path: str | os.PathLike,
    state_dict: dict,
    *,
    arch: str,
    config: dict[str, Any],
    meta: dict[str, Any] | None = None,
    half: bool = True,
) -> str:
    """Write a checkpoint (float weights as float16 when ``half``); returns its sha256.

    The file is written to a temporary name and renamed, so an interrupted save never leaves
    a truncated checkpoint behind.
    """
    import torch

    sd = {}
    for k, v in state_dict.items():
        v = v.detach().to("cpu")
        if half and _is_float(v) and not k.endswith(KEEP_FP32):
            v = v.to(torch.float16)
        sd[k] = v.clone().contiguous()
    obj = {"format": FORMAT, "arch": arch, "config": dict(config), "meta": dict(meta or {}), "state_dict": sd}
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, p)
    return sha256_file(p)


def read_checkpoint(path: str | os.PathLike, sha256: str | None = None) -> dict:
    """Load a checkpoint file; float tensors come back as float32.

    Args:
        sha256: expected digest (checked first when given).
    Returns:
        the checkpoint dict (``format``, ``arch``, ``config``, ``meta``, ``state_dict``).
    Raises:
        CheckpointError: missing / altered / unreadable file, or not a semlink checkpoint.
    """
    import torch

    p = verify_file(path, sha256) if sha256 else Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint file {p} does not exist")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is an unusable file
        raise CheckpointError(f"checkpoint file {p} could not be read: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or not isinstance(obj.get("state_dict"), dict):
        raise CheckpointError(
            f"{p} is not a semlink checkpoint (format {FORMAT!r}); export one with `semlink train hyperprior`"
        )
    obj["state_dict"] = {k: (v.float() if _is_float(v) else v) for k, v in obj["state_dict"].items()}
    obj["path"] = str(p)
    return obj


def load_checkpoint(name: str, manifest: str | os.PathLike | None = None) -> dict:
    """Load the checkpoint listed as ``name`` in the manifest, verifying its sha256.

    The returned dict also carries ``entry`` (the manifest entry).
    """
    entry, root = find_entry(name, manifest)
    if "file" not in entry or "sha256" not in entry:
        raise CheckpointError(f"manifest entry {name!r} needs 'file' and 'sha256'")
    obj = read_checkpoint(root / entry["file"], entry["sha256"])
    obj["entry"] = entry
    return obj


def manifest_entry(path: str | os.PathLike, *, name: str, codec: str, quality: int, **facts: Any) -> dict:
    """A manifest entry for a checkpoint file (``file`` is its base name; sha256 computed)."""
    p = Path(path)
    return {"name": name, "codec": codec, "quality": int(quality), "file": p.name, "sha256": sha256_file(p), **facts}
