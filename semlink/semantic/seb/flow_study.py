"""Does Seb's motion compensation beat the plain reference on clips it never saw?

    semlink figure seb-flow [results/seb-flow] [--option flow=RUN/seb-flow.pt] [--option recompute=true]

Frame pairs of the evaluation ``clips`` (bikes, bigbuckbunny, carphone: 16 frames at 240x320,
never training data) at gaps 1, 2 and 3 (every pair (i, i + g)): the reference is frame i, the
target frame i + g. Each predictor warps the reference towards the target, and the figure is
the PSNR [dB] of that prediction minus the PSNR of the plain reference (``gain_db``; 0 = motion
compensation buys nothing):

* ``seb-flow`` -- the self-supervised pre-training (:mod:`.flow_task`, its export ``seb-flow.pt``);
* ``seb v1 (zoo)`` -- the flow network inside the shipped ``seb.pt`` (trained jointly, whose
  motion latents collapsed);
* ``OpenCV DIS`` -- classical optical flow (preset MEDIUM) from target to reference, for scale.

Outputs: ``flow_gain.csv`` (one row per predictor, clip, gap and pair),
``flow_gain_summary.csv`` (mean with a 95 % interval over the 3 clips, each clip's pairs averaged
first: the clips, not the pairs, are the independent units; with 3 clips the interval is wide),
``flow_gain_by_clip.csv`` (each clip's mean over its pairs) and ``flow_gain.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from semlink.figures import register_figure

GAPS = (1, 2, 3)
DEFAULT_FLOW = "~/.cache/semlink/runs/seb-flow/seb-flow.pt"
PREDICTORS = ("seb-flow", "seb v1 (zoo)", "OpenCV DIS")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def net_predict(flow_net, ref: np.ndarray, target: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3]: ``ref`` warped by ``flow_net(target, ref)`` (H, W multiples of 16)."""
    import torch

    from semlink.nn.flow import warp

    t = torch.tensor(target).permute(2, 0, 1)[None].float() / 255  # a copy: dataset frames are read-only
    r = torch.tensor(ref).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = warp(r, flow_net(t, r).float())
    return (y[0].permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


def dis_predict(ref: np.ndarray, target: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3]: ``ref`` backward-warped by OpenCV DIS flow from ``target`` to ``ref``."""
    import cv2

    from semlink.nn.flow import dis_flow

    f = dis_flow(target, ref)  # target(p) ~ ref(p + f)
    h, w = target.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(np.ascontiguousarray(ref), xs + f[..., 0], ys + f[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def measure(predictors: dict, clips: dict[str, np.ndarray], gaps=GAPS) -> pd.DataFrame:
    """One row per (predictor, clip, gap, first frame): ``psnr_pred``, ``psnr_ref``, ``gain_db``.
    ``predictors``: name -> f(ref, target) -> uint8 prediction; ``clips``: name -> uint8 [N, H, W, 3]."""
    rows = []
    for clip, frames in clips.items():
        for g in gaps:
            for i in range(frames.shape[0] - g):
                ref, target = frames[i], frames[i + g]
                p_ref = _psnr(ref, target)
                for name, predict in predictors.items():
                    p = _psnr(predict(ref, target), target)
                    rows.append({"predictor": name, "clip": clip, "gap": g, "frame": i, "psnr_pred": round(p, 4),
                                 "psnr_ref": round(p_ref, 4), "gain_db": round(p - p_ref, 4)})
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean ``gain_db`` per predictor and gap with a 95 % interval over the clips."""
    from semlink.results.stats import summarize

    return summarize(df, ["predictor", "gap"], "gain_db", unit="clip")


def draw(s: pd.DataFrame, ax=None):
    """Bars of the mean gain [dB] per gap, one colour per predictor, with the clips' 95 % intervals."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    present = list(dict.fromkeys(s["predictor"]))
    names = [p for p in PREDICTORS if p in present] + [p for p in present if p not in PREDICTORS]
    width = 0.8 / max(len(names), 1)
    for j, name in enumerate(names):
        r = s[s["predictor"] == name].sort_values("gap")
        half = r["ci_high"] - r["mean"] if "ci_high" in r else None
        ax.bar(r["gap"] + (j - (len(names) - 1) / 2) * width, r["mean"], width, yerr=half, capsize=3, label=name)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(list(GAPS))
    ax.set_xlabel("frame gap")
    ax.set_ylabel("PSNR gain over the plain reference [dB]")
    ax.set_title("Motion compensation on the evaluation clips (mean, 95 % over 3 clips)", fontsize=9)
    ax.legend(fontsize=8)
    return ax


def _clips() -> dict[str, np.ndarray]:
    from semlink.data import get_dataset

    return {it.name: np.asarray(it.data) for it in get_dataset("clips", size=264, crop=(240, 320), max_frames=16)}


@register_figure("seb-flow", inputs=("results/seb-flow",), codes=True, options={
    "flow": (DEFAULT_FLOW, "the seb-flow export to measure (semlink train seb-flow)"),
    "recompute": (False, "measure again (needs the flow export; else the stored flow_gain.csv is redrawn)")},
    summary="Seb motion compensation on the evaluation clips: PSNR gain over the plain reference of the "
            "pre-trained flow, the shipped seb's flow and OpenCV DIS (flow_gain.csv, flow_gain_summary.csv, flow_gain.png)")
def make(inputs: list[Path], out: Path, flow: str = DEFAULT_FLOW, recompute: bool = False) -> list[Path]:
    import matplotlib.pyplot as plt

    from semlink.nn.flow import SpyNetLite
    from semlink.tables import write_csv
    from semlink.zoo.checkpoints import read_checkpoint

    from .checkpoint import load_seb
    from .flow_task import FLOW_ARCH

    folder = Path(inputs[0])
    csv = folder / "flow_gain.csv"
    if recompute or not csv.is_file():
        path = Path(flow).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"figure seb-flow: option flow: no such file {path} (semlink train seb-flow first)")
        ck = read_checkpoint(path)
        if ck.get("arch") != FLOW_ARCH:
            raise ValueError(f"figure seb-flow: option flow: {path} is not a seb-flow export (arch {ck.get('arch')!r})")
        pre = SpyNetLite(**ck["config"])
        pre.load_state_dict(ck["state_dict"])
        from semlink.zoo.checkpoints import load_checkpoint

        v1 = load_seb(load_checkpoint("seb")).inter.flow.float().eval()
        predictors = {"seb-flow": lambda r, t: net_predict(pre.eval(), r, t),
                      "seb v1 (zoo)": lambda r, t: net_predict(v1, r, t), "OpenCV DIS": dis_predict}
        df = measure(predictors, _clips())
        df.insert(0, "flow_step", ck.get("meta", {}).get("step"))
        folder.mkdir(parents=True, exist_ok=True)
        write_csv(csv, df.to_dict("records"), list(df.columns))
    df = pd.read_csv(csv)
    s = summary(df)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "flow_gain_summary.csv", s.to_dict("records"), list(s.columns), float_format=".4g")
    by_clip = df.groupby(["predictor", "clip", "gap"], as_index=False)[["psnr_pred", "psnr_ref", "gain_db"]].mean()
    write_csv(out / "flow_gain_by_clip.csv", by_clip.to_dict("records"), list(by_clip.columns), float_format=".4g")
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    draw(s, ax)
    fig.tight_layout()
    fig.savefig(out / "flow_gain.png", dpi=120)
    plt.close(fig)
    return [csv, out / "flow_gain_summary.csv", out / "flow_gain_by_clip.csv", out / "flow_gain.png"]
