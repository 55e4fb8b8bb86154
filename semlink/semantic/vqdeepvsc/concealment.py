"""How reliable each received key frame is, and which ones ``vqdeepvsc`` conceals (``on_loss``).

After the link, every combined bit of the parts ``p`` and ``indices`` has a probability of being
wrong (:func:`.bitstream.combine_soft`: 0 when its byte came from a CRC-checked copy, the
posterior error probability of the summed channel LLRs otherwise). From these the receiver
estimates, without the source:

* **index reliability** — P(an index of ``s_eta`` is right) = prod over its B bits (1 - p_bit);
* **restored reliability** — the restorer copies a skipped index from the previous key frame, so
  it inherits that index's reliability (an index the restorer had to pad, because ``s_eta``
  was short, is unreliable: 0);
* **mask reliability** — P(the masks p of key frames 2..k are all right): one wrong mask bit
  misaligns ``s_eta`` for every later index;
* **key-frame reliability** q_k = (mean restored reliability of frame k) x (mask reliability up
  to k): the expected fraction of frame k's indices that are right.

The rule (:func:`kept_key_frames`): key frames with q_k >= ``KEEP`` are decoded; the others are
dropped and the video seam fills their places from the kept ones (interpolated between two
kept key frames, repeated before the first and after the last), which is how the decoder
conceals any non-key frame; when no key frame reaches ``KEEP``, those with q_k >= ``GREY``
are decoded instead; when none reaches ``GREY`` the clip is mid-grey.

The two thresholds come from key frames of TRAINING clips (the video pack's five clips that the
SNR law is fitted on, never the evaluation clips) with random index-bit errors:
``python -m semlink.semantic.vqdeepvsc.concealment`` writes the measurement
(``results/vqdeepvsc-concealment/index_errors.csv``). There, a key frame with 90 % of its
indices right decodes about as well as a copy of the clean key frame four or eight frames away
(17.4 dB / MS-SSIM 0.61 against 17.2 dB / 0.63), so below ``KEEP`` = 0.9 a neighbour serves
better; with about 25 % right it decodes to mid-grey's level (MS-SSIM 0.20 at 0.25 against
grey's 0.20), so below ``GREY`` = 0.25 nothing decoded beats grey.
"""

from __future__ import annotations

import numpy as np

#: A key frame whose expected fraction of right indices is at least this is decoded.
KEEP = 0.9
#: When no key frame reaches KEEP: the lowest expected fraction worth decoding rather than grey.
GREY = 0.25


def index_reliability(bit_error: np.ndarray, count: int, bits: int) -> np.ndarray:
    """P(each of ``count`` packed ``bits``-bit values is right) from per-bit error
    probabilities float [>= 0] (bits beyond ``bit_error`` count as unknown, 0.5) -> float64 [count]."""
    need = count * bits
    pe = np.asarray(bit_error, np.float64).reshape(-1)[:need]
    if pe.size < need:
        pe = np.concatenate([pe, np.full(need - pe.size, 0.5)])
    return np.exp(np.log1p(-np.clip(pe, 0.0, 0.5)).reshape(count, bits).sum(1)) if count else np.zeros(0)


def key_frame_reliability(q_eta: np.ndarray, p: np.ndarray, p_bit_error: np.ndarray, m: int, ls: int) -> np.ndarray:
    """Expected fraction of right indices per key frame.

    Args:
        q_eta: float [L_eta] reliability of each received index of ``s_eta`` (:func:`index_reliability`).
        p: the received masks, 0/1 [M - 1, L_s] (as the restorer used them).
        p_bit_error: float [>= (M - 1) L_s] error probability of each mask bit.
        m, ls: key frames M and indices per key frame L_s.

    Returns:
        float64 [M], each in [0, 1].
    """
    q = np.asarray(q_eta, np.float64).reshape(-1)
    pm = np.asarray(p, bool).reshape(max(m - 1, 0), ls) if m > 1 else np.zeros((0, ls), bool)
    pe = np.asarray(p_bit_error, np.float64).reshape(-1)[: max(m - 1, 0) * ls]
    if pe.size < max(m - 1, 0) * ls:
        pe = np.concatenate([pe, np.full(max(m - 1, 0) * ls - pe.size, 0.5)])
    log_mask_ok = np.concatenate([[0.0], np.cumsum(np.log1p(-np.clip(pe, 0, 0.5)).reshape(max(m - 1, 0), ls).sum(1))])
    rel = np.zeros(ls)
    n0 = min(ls, q.size)
    rel[:n0] = q[:n0]
    out = np.empty(m)
    out[0] = rel.mean() if ls else 0.0
    pos = ls
    for k in range(1, m):
        where = np.flatnonzero(pm[k - 1])
        avail = max(0, min(where.size, q.size - pos))
        rel[where[:avail]] = q[pos : pos + avail]
        rel[where[avail:]] = 0.0
        pos += where.size
        out[k] = (rel.mean() if ls else 0.0) * np.exp(log_mask_ok[k])
    return out


def kept_key_frames(q: np.ndarray, keep: float = KEEP, grey: float = GREY) -> np.ndarray:
    """The rule: bool [M], the key frames to decode (all False: the clip is mid-grey)."""
    q = np.asarray(q, np.float64)
    kept = q >= keep
    return kept if kept.any() else q >= grey


def _measure(out: str = "results/vqdeepvsc-concealment") -> None:  # pragma: no cover (a measurement)
    """Key frames of the five training clips with random index-bit errors -> index_errors.csv."""
    import csv
    import os

    import torch

    from semlink.codecs import get_codec
    from semlink.data.registry import get_dataset
    from semlink.simulator.metrics import ms_ssim, psnr

    from .channel_fit import TRAINING_CLIPS
    from .codec import _pad

    torch.set_num_threads(1)
    names = TRAINING_CLIPS
    ds = get_dataset("folder", path="~/.cache/semlink/corpus/video-v1/clips", size=264, crop=(240, 320), max_frames=16)
    items = {it.name: it for it in ds.items}
    msvq = get_codec("vqdeepvsc")._models().msvq
    b = msvq.bits_per_index
    rng = np.random.default_rng(0)
    rows, nan = [], float("nan")
    for name in names:
        clip = items[name].data
        h, w = clip.shape[1:3]
        x = torch.from_numpy(_pad(clip[[0, 4, 8]])).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            idx = msvq.encode_indices(x).numpy()
        src = clip[0]

        def dec(ix, c):
            with torch.no_grad():
                k = msvq.decode_indices(torch.from_numpy(ix[None, :c]), c)[0]
            return (k.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)[:h, :w]

        grey = np.full_like(src, 128)
        rows.append({"clip": name, "c": nan, "bit_error": nan, "right": nan, "what": "grey",
                     "psnr": psnr(src, grey), "ms_ssim": ms_ssim(src, grey)})
        for c in (4, 6):
            for lag, j in ((4, 1), (8, 2)):
                d = dec(idx[j], c)
                rows.append({"clip": name, "c": c, "bit_error": nan, "right": nan, "what": f"copy of key frame +{lag}",
                             "psnr": psnr(src, d), "ms_ssim": ms_ssim(src, d)})
            for pb in (0, 0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.5):
                flip = ((rng.random(idx[0].shape + (b,)) < pb) * (1 << np.arange(b))).sum(-1)
                ix = idx[0] ^ flip
                d = dec(ix, c)
                rows.append({"clip": name, "c": c, "bit_error": pb, "right": float((ix == idx[0])[:c].mean()),
                             "what": "decoded", "psnr": psnr(src, d), "ms_ssim": ms_ssim(src, d)})
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "index_errors.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    import pandas as pd

    df = pd.DataFrame(rows)
    print(df.groupby(["what", "c", "bit_error"], dropna=False)[["right", "psnr", "ms_ssim"]].mean().round(3).to_string())


if __name__ == "__main__":  # pragma: no cover
    _measure()
