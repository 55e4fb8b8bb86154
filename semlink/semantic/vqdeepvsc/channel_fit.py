"""How much each MSVQ channel count buys, measured on training frames: the table the codec's
channel rule reads (``channels="auto"``).

    python -m semlink.semantic.vqdeepvsc.channel_fit [--out channel_quality.json]
    python -m semlink.semantic.vqdeepvsc.channel_fit --msvq RUN/vqdeepvsc-msvq.pt --frames evaluation --out F.json
    (F.json: this checkpoint's table; F.csv keeps one block of rows per --run label and checkpoint step: a trend)

The frames are every third frame of the five video-pack training clips that the key-frame law
is also fitted on (kivy's city clip k00/k03, OpenCV's tree.avi k01 and vtest.avi k00/k12; 16
frames at 240x320), never the evaluation clips. For each channel level c of the zoo's MSVQ the
table holds the mean PSNR [dB] and MS-SSIM of those frames decoded from their first c channels,
and the sha256 of the model file it was measured with: the codec applies the table only to
that model (another MSVQ falls back to "the most channels that fit").

The rule (:meth:`ChannelTable.choose`): among the channel counts whose single copy fits the
budget, the fewest whose MS-SSIM is within ``TOLERANCE`` of the best of them; the bits left
become repetitions of the index stream (what protects it under a poor channel).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

#: MS-SSIM a channel level must add over the next smaller one to be worth its bits.
TOLERANCE = 0.005
TRAINING_CLIPS = ("real__kivy-clips__cityCC0__k00", "real__kivy-clips__cityCC0__k03", "real__opencv-clips__tree__k01",
                  "real__opencv-clips__vtest__k00", "real__opencv-clips__vtest__k12")
TABLE = "channel_quality.json"


@dataclass(frozen=True)
class ChannelTable:
    """MS-SSIM per channel count of one MSVQ model (``msvq_sha256``), measured on training frames."""

    msvq_sha256: str
    ms_ssim: dict[int, float]
    psnr_db: dict[int, float]
    source: str = ""

    def __post_init__(self):
        if not self.ms_ssim or set(self.ms_ssim) != set(self.psnr_db):
            raise ValueError(f"{TABLE}: fields ms_ssim and psnr_db must list the same channel levels")

    def choose(self, fitting: list[int], tolerance: float = TOLERANCE) -> int:
        """The fewest of ``fitting`` (channel counts whose copy fits) within ``tolerance`` MS-SSIM
        of the best of them; levels the table lacks count as the best."""
        if not fitting:
            raise ValueError("no channel count fits")
        score = {c: self.ms_ssim.get(c, np.inf) for c in fitting}
        best = max(score.values())
        return min(c for c in fitting if score[c] >= best - tolerance)

    @classmethod
    def from_json(cls, d: dict) -> "ChannelTable":
        try:
            levels = d["levels"]
            return cls(str(d["msvq_sha256"]), {int(k): float(v["ms_ssim"]) for k, v in levels.items()},
                       {int(k): float(v["psnr_db"]) for k, v in levels.items()}, str(d.get("source", "")))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{TABLE}: malformed ({e})") from e


def shipped_channel_table() -> ChannelTable | None:
    """The table shipped as package data, or None if not measured."""
    p = resources.files("semlink.semantic.vqdeepvsc") / TABLE
    return ChannelTable.from_json(json.loads(p.read_text())) if p.is_file() else None


def measure(msvq_path: str | None = None, frames: str = "training") -> dict:  # pragma: no cover (minutes)
    """The table of the zoo's MSVQ (or of the checkpoint ``msvq_path``) as a JSON-ready dict,
    on the training frames (what the codec reads) or on held-out ``"evaluation"`` frames."""
    import torch

    from semlink.cache import sha256_file
    from semlink.data.registry import get_dataset
    from semlink.simulator.metrics import ms_ssim, psnr
    from semlink.zoo.checkpoints import load_checkpoint, read_checkpoint, read_manifest

    from .checkpoint import load_msvq
    from .codec import _pad

    if msvq_path is None:
        models, root = read_manifest(None)
        entry = next(e for e in models if e.get("codec") == "vqdeepvsc" and e.get("role") == "msvq")
        ck, sha = load_checkpoint(entry["name"]), entry["sha256"]
    else:
        ck, sha = read_checkpoint(msvq_path), sha256_file(msvq_path)
    m = load_msvq(ck)
    if frames == "evaluation":
        ds = get_dataset("clips", size=264, crop=(240, 320), max_frames=16)
        names = [it.name for it in ds.items]
        source = f"{4 * len(names)} held-out frames (every fourth of 16 at 240x320 of the evaluation clips {', '.join(names)})"
        frames = np.concatenate([it.data[::4] for it in ds.items])
    elif frames == "training":
        ds = get_dataset("folder", path="~/.cache/semlink/corpus/video-v1/clips", size=264, crop=(240, 320), max_frames=16)
        items = {it.name: it.data for it in ds.items}
        frames = np.concatenate([items[n][::3] for n in TRAINING_CLIPS])
        source = f"{len(frames)} training frames (every third of 16 at 240x320 of {', '.join(TRAINING_CLIPS)})"
    else:
        raise ValueError(f"frames must be 'training' or 'evaluation', got {frames!r}")
    h, w = frames.shape[1:3]
    x = torch.from_numpy(_pad(frames)).permute(0, 3, 1, 2).float() / 255
    levels = {}
    with torch.no_grad():
        idx = torch.cat([m.encode_indices(x[i : i + 4]) for i in range(0, len(x), 4)])
        for k in m.levels:
            y = torch.cat([m.decode_indices(idx[i : i + 4, :k], k) for i in range(0, len(x), 4)])
            rec = (y.permute(0, 2, 3, 1).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)[:, :h, :w]
            levels[str(k)] = {"psnr_db": round(float(np.mean([psnr(a, b) for a, b in zip(frames, rec)])), 3),
                              "ms_ssim": round(float(np.mean([ms_ssim(a, b) for a, b in zip(frames, rec)])), 4),
                              "bpp": round(k * m.bits_per_index / m.factor**2, 4)}
    return {"msvq_sha256": sha, "levels": levels, "tolerance": TOLERANCE, "msvq_step": ck.get("meta", {}).get("step"),
            "source": f"{source}; python -m semlink.semantic.vqdeepvsc.channel_fit"}


def main(argv: list[str] | None = None) -> None:  # pragma: no cover
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--msvq", default=None, help="an MSVQ checkpoint (default: the zoo's)")
    ap.add_argument("--frames", choices=("training", "evaluation"), default="training",
                    help="training frames (the table the codec reads) or held-out evaluation frames (a report)")
    ap.add_argument("--out", default=None, help=f"default: the package's {TABLE} (training frames only)")
    ap.add_argument("--run", default="", help="with --frames evaluation: a label of the training run the checkpoint "
                                              "comes from (the CSV keeps one block of rows per run and step)")
    a = ap.parse_args(argv)
    if a.out is None and a.frames != "training":
        ap.error("--frames evaluation needs --out (the package table holds training frames only)")
    a.out = a.out or str(Path(__file__).with_name(TABLE))
    table = measure(a.msvq, a.frames)
    Path(a.out).write_text(json.dumps(table, indent=1) + "\n")
    if a.frames == "evaluation":  # a report: also as a table (one row per channel count) for `semlink report`
        import csv

        from semlink.tables import write_csv

        rows = [{"run": a.run, "msvq_step": table["msvq_step"], "c": int(c), **v} for c, v in table["levels"].items()]
        path = Path(a.out).with_suffix(".csv")
        if path.is_file():  # a training trend: the rows of other runs and checkpoints' steps stay
            with path.open(newline="") as f:
                old = [r for r in csv.DictReader(f)
                       if (r.get("run", ""), r.get("msvq_step")) != (a.run, str(table["msvq_step"]))]
            if old and set(old[0]) == set(rows[0]):
                rows = sorted(old + rows, key=lambda r: (r["run"], int(r["msvq_step"] or 0), int(r["c"])))
        write_csv(path, rows, list(rows[0]))
    print(json.dumps(table["levels"], indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":  # pragma: no cover
    main()
