"""An interpolator against the linear blend and OpenCV DIS on the evaluation clips (a report).

    python -m semlink.semantic.vqdeepvsc.interp_eval --interp FILE --name NAME [--out results/vqdeepvsc-interp/interp.csv]

The middle frame of every pair (i, i + 2) of the three evaluation clips (16 frames at 240x320,
never training data) at t = 0.5 (:func:`.zoo_facts.interp_rows`): PSNR [dB] of the interpolator,
of OpenCV DIS and of the linear blend, and the paired differences. The CSV keeps one block of
rows per ``--name`` (a later run with the same name replaces its block), so that the shipped
interpolator and a candidate sit side by side.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

OUT = "results/vqdeepvsc-interp/interp.csv"


def rows_for(path: str | Path, name: str) -> list[dict]:
    """The rows of :func:`.zoo_facts.interp_rows` for the interpolator ``path``, labelled ``name``
    with the checkpoint's training step and the paired differences [dB]."""
    from semlink.zoo.checkpoints import read_checkpoint

    from .zoo_facts import interp_rows

    step = read_checkpoint(Path(path)).get("meta", {}).get("step")
    return [{"name": name, "step": step, **r, "learned_minus_blend": round(r["learned"] - r["linear_blend"], 4),
             "learned_minus_dis": round(r["learned"] - r["dis"], 4)} for r in interp_rows(Path(path))]


def main(argv: list[str] | None = None) -> None:  # pragma: no cover (minutes)
    from semlink.tables import write_csv

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--interp", required=True, help="an interpolator checkpoint (an export or the zoo's file)")
    ap.add_argument("--name", required=True, help="the label of its rows")
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args(argv)
    rows = rows_for(a.interp, a.name)
    out = Path(a.out)
    if out.is_file():
        with out.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["name"] != a.name] + rows
    write_csv(out, rows, list(rows[-1]))
    print(f"wrote {out}")


if __name__ == "__main__":  # pragma: no cover
    main()
