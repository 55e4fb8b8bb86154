"""Training runs that outlive a session: where they live and how far they are.

A run is a directory holding ``train_state.pt`` (see :mod:`semlink.train.loop`). Runs default to
the user cache, outside any work tree, so that a chain of ``--max-minutes`` runs started in one
session continues in the next with ``--resume``: ``runs_dir()/NAME`` where NAME is the recipe's
file name (without ``.toml``) or the task's name. ``semlink train status`` lists the runs found
there (or under ``--runs DIR``) with their step, training hours, last validation figures, speed
and time to go; a run in progress holds a ``RUNNING`` file with its process id.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import time
from pathlib import Path

RUNNING = "RUNNING"


def runs_dir() -> Path:
    """Default parent of training runs: ``semlink.cache.cache_dir()/runs`` (not created here)."""
    from semlink.cache import cache_dir

    return cache_dir() / "runs"


def default_out(name: str) -> Path:
    """Where a run called ``name`` lives when no ``--out`` is given."""
    return runs_dir() / name


def mark_running(out: Path) -> Path:
    """Write ``out/RUNNING`` (pid, host, start time); returns its path (remove it when done)."""
    path = Path(out) / RUNNING
    path.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}))
    return path


def _alive(info: dict) -> bool:
    if info.get("host") != socket.gethostname():
        return True  # another machine's run: assume it is alive
    try:
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return False
    return True


def _last_rows(path: Path, n: int = 1) -> list[dict]:
    if not path.is_file():
        return []
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return rows[-n:]


def run_status(out: Path) -> dict:
    """Facts of the run in ``out``: model, step, steps, hours, state, speed, ETA, last validation."""
    import torch

    out = Path(out)
    state = torch.load(out / "train_state.pt", map_location="cpu", weights_only=True, mmap=True)
    cfg = state.get("config", {})
    step, steps = int(state.get("step", 0)), int(cfg.get("steps", 0))
    seconds = float(state.get("seconds", 0.0))
    info = {"run": str(out), "model": cfg.get("model", "hyperprior"), "arch": cfg.get("arch") if cfg.get("model", "hyperprior") == "hyperprior" else None, "step": step,
            "steps": steps, "hours": seconds / 3600.0, "state": "done" if step >= steps else "stopped"}
    running = out / RUNNING
    if running.is_file():
        try:
            r = json.loads(running.read_text())
        except ValueError:
            r = {}
        info["state"] = "running" if _alive(r) else "crashed (RUNNING file of a dead process)"
    rows = _last_rows(out / "log.csv", 5)
    per_step = [float(r["seconds"]) for r in rows if r.get("seconds")]
    logged = [int(r["step"]) for r in rows]
    if len(logged) >= 2 and per_step:
        s_per_step = sum(per_step[1:]) / (logged[-1] - logged[0])
        info["steps_per_s"] = 1.0 / s_per_step if s_per_step > 0 else float("nan")
        info["eta_hours"] = (steps - step) * s_per_step / 3600.0
    val = _last_rows(out / "val.csv", 1)
    if val:
        info["val"] = {k: float(v) for k, v in val[0].items() if v not in ("", None)}
    info["best"] = state.get("best", {})
    return info


def list_runs(root: Path | None = None) -> list[Path]:
    """Run directories (holding ``train_state.pt``) under ``root`` (default :func:`runs_dir`), any depth."""
    root = Path(root) if root is not None else runs_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob("train_state.pt"))


def format_status(info: dict) -> str:
    """One block of text for ``semlink train status``."""
    lines = [f"{info['run']}: {info['model']}" + (f" ({info['arch']})" if info.get("arch") else "")
             + f", step {info['step']:,} of {info['steps']:,}, {info['hours']:.2f} h trained, {info['state']}"]
    if "steps_per_s" in info:
        lines.append(f"  speed {info['steps_per_s']:.2f} steps/s, ETA {info['eta_hours']:.1f} h to step {info['steps']:,}")
    if "val" in info:
        v = info["val"]
        lines.append("  last validation (step %d): " % int(v.pop("step", -1))
                     + ", ".join(f"{k} {val:.4g}" for k, val in v.items()))
    return "\n".join(lines)
