"""``semlink zoo add RUN --name NAME``: ship a training run's export in the model zoo (a training
tool: it lives with the trainer, above the zoo it writes to).

One procedure for every training task (:mod:`semlink.train.task`):

1. the run's export (``task.export_name``; ``--use best``: ``best.pt``) is copied to
   ``ZOO/NAME.pt`` (atomically; an identical file is left in place so that a sweep reading it is
   never disturbed), within the size limits;
2. the generic facts are gathered from the run: architecture and config of the checkpoint, the
   training config (data, crop, batch, lr, device, precision, world size), steps and seconds,
   the final training figures (mean of the last log lines), the validation figures, the corpus
   pack's manifest hash and size, and the chain of ``--init`` runs it was started from (each
   phase's facts, steps and seconds summed) — nothing is typed in by hand;
3. the task says which manifest entries the file is (:meth:`TrainTask.zoo_entries`: codec,
   quality or qualities, role) and what its loss is; the entries are written to the manifest
   (atomically: a temporary file renamed over it), replacing entries of the same name;
4. unless ``--no-test``, the task computes its test figures on its evaluation set
   (:meth:`TrainTask.zoo_test`, through :func:`semlink.evaluate.evaluate`) and the entries are
   written again with them.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from semlink.cache import sha256_file
from semlink.errors import ConfigError

MAX_FILE = 16 * 2**20
MAX_ZOO = 48 * 2**20
STATE = "train_state.pt"


def _log_tail(path: Path, last: int) -> dict[str, float]:
    if not path.is_file():
        return {}
    with open(path) as f:
        rows = list({int(r["step"]): r for r in csv.DictReader(f)}.values())  # last line per step
    tail = rows[-last:]
    out = {}
    for k in (tail[-1] if tail else {}):
        vals = [float(r[k]) for r in tail if r.get(k) not in ("", None, "nan")]
        if k not in ("step", "seconds") and vals:
            out[f"final_train_{k}"] = round(float(np.mean(vals)), 5)
    return out


def _validation(run: Path) -> dict[str, Any]:
    path = run / "val.csv"
    if not path.is_file():
        return {"validation": "none: trained on every image of its data (no held-out split)"}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {"validation": "none logged"}
    last = rows[-1]
    return {"validation_step": int(last["step"]),
            **{f"val_{k}": round(float(v), 5) for k, v in last.items() if k != "step" and v not in ("", None)}}


def corpus_facts(data: str) -> dict[str, Any]:
    """Manifest hash and size of the training packs among a run's data sources (``folder:DIR``)."""
    out: dict[str, Any] = {}
    for src in str(data).split(","):
        d = Path(src.split(":", 1)[1] if src.startswith("folder:") else src).expanduser()
        if (d / "manifest.json").is_file():
            m = json.loads((d / "manifest.json").read_text())
            out = {"corpus_manifest_hash": m.get("hash"), "corpus_images": len(m.get("images", [])),
                   "corpus_mpixel": round(m.get("pixels", 0) / 1e6, 1)}
    return out


def run_facts(run: Path, last: int = 10) -> dict[str, Any]:
    """The facts of one training run directory (see the module docstring)."""
    import torch

    state = torch.load(run / STATE, map_location="cpu", weights_only=True)
    cfg = state["config"]
    keep = ("model", "arch", "n", "m", "lmbda", "options", "data", "crop", "batch", "lr", "lr_drop", "amp", "compile",
            "device", "seed", "ema", "val_fraction")
    facts = {k: cfg[k] for k in keep if k in cfg}
    if "lmbda" in facts:
        facts["lambda"] = facts.pop("lmbda")
    facts.update(run=str(run), steps=int(state["step"]), train_seconds=round(float(state.get("seconds", 0.0)), 1),
                 training_data=cfg.get("data"), **corpus_facts(cfg.get("data", "")), **_log_tail(run / "log.csv", last),
                 **_validation(run))
    init = state.get("init_meta", {}).get("init")
    if init:
        facts["init"] = init
    return facts


def phases(run: Path) -> list[dict[str, Any]]:
    """The facts of ``run`` and of the runs it was initialised from (``--init``), earliest first
    (a run whose init directory no longer exists ends the chain, with its path recorded)."""
    chain, seen = [], set()
    cur: Path | None = run
    while cur is not None and cur.resolve() not in seen:
        seen.add(cur.resolve())
        facts = run_facts(cur)
        chain.append(facts)
        init = facts.get("init")
        nxt = Path(init) if init else None
        if nxt is not None and not nxt.is_dir():
            nxt = nxt.parent if (nxt.parent / STATE).is_file() else None
        cur = nxt if nxt is not None and (nxt / STATE).is_file() else None
    return chain[::-1]


def _atomic_copy(src: Path, dst: Path) -> None:
    if dst.exists() and sha256_file(dst) == sha256_file(src):
        return  # never rewrite a file a sweep may be reading
    fd, tmp = tempfile.mkstemp(dir=dst.parent, suffix=".tmp")
    os.close(fd)
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def merged(models: list[dict], new: list[dict]) -> list[dict]:
    """``models`` with the entries of ``new`` in place of those of the same name (new names appended)."""
    by_name = {e["name"]: e for e in new}
    out = [by_name.pop(m["name"], m) for m in models]
    return out + list(by_name.values())


def write_manifest(path: Path, models: list[dict]) -> None:
    """Write a manifest atomically (temporary file + rename), one format (indent 1)."""
    data = {"models": models}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def add_run(run: str | Path, name: str, *, zoo: str | Path | None = None, use: str = "last", quality: int | None = None,
            recipe: str = "", note: str = "", test: bool = True, max_file: int = MAX_FILE,
            max_zoo: int = MAX_ZOO) -> list[dict]:
    """Ship ``run``'s export as ``NAME.pt`` in ``zoo`` (default: the shipped zoo); returns the entries.

    Args:
        use: "last" (the run's export) or "best" (``best.pt``, the lowest validation loss).
        quality: the rate-point id of the entry where the task needs one (e.g. gan-c2f's
            enhancement layer number).
    """
    from semlink.train.task import get_task
    from semlink.zoo.checkpoints import manifest_entry, read_checkpoint, read_manifest, zoo_dir

    run = Path(run).expanduser()
    if not (run / STATE).is_file():
        raise ConfigError(f"{run} is not a training run (no {STATE})")
    import torch

    cfg = torch.load(run / STATE, map_location="cpu", weights_only=True)["config"]
    task = get_task(cfg.get("model", "hyperprior"))
    if use not in ("last", "best"):
        raise ConfigError(f"--use must be 'last' or 'best', got {use!r}")
    src = run / (task.export_name if use == "last" else "best.pt")
    if not src.is_file():
        raise ConfigError(f"{src} does not exist (train the run, or --use last)")
    if src.stat().st_size > max_file:
        raise ConfigError(f"{src}: {src.stat().st_size} bytes, over the {max_file} byte limit of a zoo file")
    zoo = Path(zoo) if zoo is not None else zoo_dir()
    man_path = zoo / "manifest.json" if zoo.is_dir() else zoo
    zoo = man_path.parent
    models, _ = read_manifest(man_path)
    dst = zoo / f"{name}.pt"
    ck = read_checkpoint(src)
    chain = phases(run)
    facts: dict[str, Any] = {**chain[-1], "arch": ck.get("arch"), "config": ck.get("config", {}),
                             "export_meta": ck.get("meta", {}), "loss": task.loss_description(cfg),
                             "selected": f"{src.name} (step {ck.get('meta', {}).get('step')})"}
    if len(chain) > 1:
        facts.update(phases=chain, steps=sum(p["steps"] for p in chain),
                     train_seconds=round(sum(p["train_seconds"] for p in chain), 1))
    if recipe:
        facts["recipe"] = recipe
    if note:
        facts["note"] = note
    entries_spec = task.zoo_entries(dst, name, cfg, quality)
    names = {e["name"] for e in entries_spec}
    others = [m for m in models if m["name"] not in names]
    total = sum((zoo / m["file"]).stat().st_size for m in others if (zoo / m["file"]).is_file() and m["file"] != dst.name)
    if total + src.stat().st_size > max_zoo:
        raise ConfigError(f"the zoo would hold {total + src.stat().st_size} bytes, over its {max_zoo} byte limit")
    _atomic_copy(src, dst)
    entries = [manifest_entry(dst, **{**facts, **e}) for e in entries_spec]
    write_manifest(man_path, merged(models, entries))
    if test:
        figures = task.zoo_test(man_path, entries)
        entries = [{**e, **figures.get(e["name"], {})} for e in entries]
        write_manifest(man_path, merged(models, entries))
    return entries


def retest(name: str, *, zoo: str | Path | None = None, task: str | None = None, note: str = "") -> list[dict]:
    """Measure the test figures of the zoo entry ``name`` again (and of every entry sharing its
    file), with today's code: after a change that moves them (a codec default, a model another
    codec loads). The training facts are left as they are; ``note`` (why) is recorded as
    ``retest_note``. ``task``: the training task that knows the entry's evaluation (default: the
    entry's ``model`` field)."""
    from semlink.train.task import get_task
    from semlink.zoo.checkpoints import read_manifest, zoo_dir

    zoo = Path(zoo) if zoo is not None else zoo_dir()
    man_path = zoo / "manifest.json" if zoo.is_dir() else zoo
    models, _ = read_manifest(man_path)
    entry = next((m for m in models if m["name"] == name), None)
    if entry is None:
        raise ConfigError(f"{man_path}: no entry named {name!r}; entries: {', '.join(m['name'] for m in models)}")
    task_name = task or entry.get("model")
    if not task_name:
        raise ConfigError(f"zoo entry {name!r} does not name its training task; give --task")
    group = [m for m in models if m["file"] == entry["file"]]
    figures = get_task(task_name).zoo_test(man_path, group)
    extra = {"retest_note": note} if note else {}
    entries = [{**e, **figures.get(e["name"], {}), **extra} for e in group]
    write_manifest(man_path, merged(models, entries))
    return entries
