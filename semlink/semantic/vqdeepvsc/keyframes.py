"""AKEI's key-frame logic (Sec. III): frame importance, the SNR -> key-frame ratio law, selection,
gaps and the video seam.

* :func:`frame_importance` — eq. 4: beta(n) = f_is(F~_n, F_n) for n = 2..N-1, where F~_n is
  interpolated from F_{n-1} and F_{n+1}; beta(1) = beta(N) = inf (always key). We use the
  DISTANCE form (1 - SSIM, or the perceptual distance) so that a LARGER beta means a frame the
  interpolator reproduces worse, i.e. a more important key frame (the paper selects the top-M).
* :class:`RhoLaw` — eqs. 5-8: rho = sum_i a_i (ln gamma)^i (gamma = linear SNR), a fitted by
  least squares with L1 or L2 regularisation (:meth:`RhoLaw.fit`) on measured (SNR, best rho)
  pairs; rho is clipped to [2 / N, 1] when used. :class:`RhoLaws`: one such law per channel
  model (the best ratio is a step whose SNR depends on the channel: one polynomial for all
  channels misfits it) and a pooled law for channels measured by none.
* :func:`select_key_frames` — top-M of beta -> the mask v (N bits; first and last always 1).
* :func:`gaps` — the gap calculator: non-key frames between consecutive key frames.
* :func:`seam` — the video seam: key frames and interpolated frames back in display order.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Callable, Sequence

import numpy as np


def ssim_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - SSIM of two uint8 RGB frames (scikit-image, channel axis last, data range 255)."""
    from skimage.metrics import structural_similarity

    return 1.0 - float(structural_similarity(a, b, channel_axis=2, data_range=255))


def frame_importance(frames: np.ndarray, interpolate: Callable[[np.ndarray, np.ndarray, list], list],
                     distance: Callable[[np.ndarray, np.ndarray], float] = ssim_distance) -> np.ndarray:
    """Eq. 4. frames uint8 [N, H, W, 3] -> beta float64 [N] (beta[0] = beta[-1] = inf).

    Args:
        interpolate: ``(f0, f1, [t]) -> [frame]`` (the extractor's IFNet + FusionNet, or DIS).
        distance: f_is as a distance (larger = the frame is harder to interpolate).
    """
    n = frames.shape[0]
    beta = np.full(n, np.inf)
    for i in range(1, n - 1):
        est = interpolate(frames[i - 1], frames[i + 1], [0.5])[0]
        beta[i] = distance(est, frames[i])
    return beta


def select_key_frames(beta: np.ndarray, m: int) -> np.ndarray:
    """Top-``m`` frames of ``beta`` -> mask v uint8 [N] (ties: earlier frame first). Frames 1 and
    N (beta = inf) are always selected, so ``m`` is clipped to [min(2, N), N]."""
    n = beta.shape[0]
    m = int(min(max(m, min(2, n)), n))
    order = sorted(range(n), key=lambda i: (-beta[i], i))
    v = np.zeros(n, np.uint8)
    v[order[:m]] = 1
    v[0] = 1
    v[-1] = 1
    return v


def gaps(v: np.ndarray) -> np.ndarray:
    """Gap calculator: v [N] (0/1, v[0] = v[-1] = 1) -> g int [M - 1], non-key frames between
    consecutive key frames."""
    keys = np.flatnonzero(np.asarray(v))
    return np.diff(keys) - 1 if keys.size > 1 else np.zeros(0, int)


def seam(key_frames: Sequence[np.ndarray], v: np.ndarray,
         interpolate: Callable[[np.ndarray, np.ndarray, list], list]) -> np.ndarray:
    """Video seam: M decoded key frames + the mask v -> all N frames uint8 [N, H, W, 3]; the
    frames between two key frames are interpolated at t = k / (g + 1), k = 1..g."""
    v = np.asarray(v)
    keys = np.flatnonzero(v)
    if len(key_frames) != keys.size or keys.size == 0:
        raise ValueError(f"{len(key_frames)} key frames for a mask with {keys.size} ones")
    n = v.shape[0]
    out = np.empty((n,) + key_frames[0].shape, np.uint8)
    for k, pos in enumerate(keys):
        out[pos] = key_frames[k]
    if keys[0] > 0:  # (a damaged mask) frames before the first key frame repeat it
        out[: keys[0]] = key_frames[0]
    if keys[-1] < n - 1:
        out[keys[-1] + 1 :] = key_frames[-1]
    for a, b, ka, kb in zip(keys[:-1], keys[1:], key_frames[:-1], key_frames[1:]):
        g = b - a - 1
        if g > 0:
            for j, fr in enumerate(interpolate(ka, kb, [k / (g + 1) for k in range(1, g + 1)])):
                out[a + 1 + j] = fr
    return out


@dataclass(frozen=True)
class RhoLaw:
    """Eq. 5: rho(gamma) = sum_i a_i (ln gamma)^i, gamma the linear SNR (Es/N0).

    Attributes:
        coefficients: a_0 .. a_I.
        regularization: "l1" or "l2" (eq. 7); v: its weight (eq. 6).
        points: the measured (snr_db, rho) pairs it was fitted on (provenance).
    """

    coefficients: tuple[float, ...]
    regularization: str = "l2"
    v: float = 0.0
    points: tuple[tuple[float, float], ...] = ()
    source: str = ""

    def __call__(self, snr_db: float, n_frames: int | None = None) -> float:
        """Key-frame ratio at ``snr_db`` [dB], clipped to [2 / n_frames, 1] (or [0, 1])."""
        x = math.log(10 ** (snr_db / 10))
        rho = sum(a * x**i for i, a in enumerate(self.coefficients))
        lo = 2.0 / n_frames if n_frames else 0.0
        return float(min(1.0, max(lo, rho)))

    @classmethod
    def fit(cls, snr_db: Sequence[float], rho: Sequence[float], degree: int = 2, regularization: str = "l2",
            v: float = 1e-3, source: str = "") -> "RhoLaw":
        """Eqs. 6-8: argmin_a sum_k (rho_k - sum_i a_i (ln gamma_k)^i)^2 + v R(a)."""
        if regularization not in ("l1", "l2"):
            raise ValueError(f"regularization must be 'l1' or 'l2', got {regularization!r}")
        if degree < 0 or len(snr_db) != len(rho) or len(rho) < degree + 1:
            raise ValueError(f"need at least degree + 1 = {degree + 1} (snr, rho) points of equal count")
        x = np.log(10 ** (np.asarray(snr_db, float) / 10))
        A = np.vander(x, degree + 1, increasing=True)
        y = np.asarray(rho, float)
        if regularization == "l2":
            a = np.linalg.solve(A.T @ A + v * np.eye(degree + 1), A.T @ y)
        else:
            from scipy.optimize import minimize

            a0 = np.linalg.lstsq(A, y, rcond=None)[0]
            a = minimize(lambda a: float(np.sum((y - A @ a) ** 2) + v * np.sum(np.abs(a))), a0, method="Powell",
                         options={"xtol": 1e-8, "ftol": 1e-10, "maxiter": 20000}).x
        pts = tuple((float(s), float(r)) for s, r in zip(snr_db, rho))
        return cls(tuple(float(c) for c in a), regularization, float(v), pts, source)

    def to_json(self) -> dict:
        return {"coefficients": list(self.coefficients), "regularization": self.regularization, "v": self.v,
                "points": [list(p) for p in self.points], "source": self.source,
                "law": "rho = sum_i a_i (ln gamma)^i, gamma = 10^(snr_db / 10)"}

    @classmethod
    def from_json(cls, d: dict) -> "RhoLaw":
        return cls(tuple(d["coefficients"]), d.get("regularization", "l2"), d.get("v", 0.0),
                   tuple(tuple(p) for p in d.get("points", ())), d.get("source", ""))


@dataclass(frozen=True)
class RhoLaws:
    """Eq. 5 fitted per channel model, with a pooled law for the others.

    Attributes:
        pooled: the law fitted on every channel's points (used for a channel without its own).
        per_channel: ``((channel name, law), ...)``, e.g. ``(("awgn", ...), ("tdl-c", ...))``.
    """

    pooled: RhoLaw
    per_channel: tuple[tuple[str, RhoLaw], ...] = ()

    def law_for(self, channel: str | None) -> tuple[RhoLaw, str]:
        """The law for ``channel`` and its name (``"awgn"``, or ``"pooled"`` when it has none)."""
        for name, law in self.per_channel:
            if name == channel:
                return law, name
        return self.pooled, "pooled"

    def __call__(self, snr_db: float, n_frames: int | None = None, channel: str | None = None) -> float:
        """Key-frame ratio at ``snr_db`` [dB] on ``channel`` (see :meth:`RhoLaw.__call__`)."""
        return self.law_for(channel)[0](snr_db, n_frames)

    @classmethod
    def from_json(cls, d: dict) -> "RhoLaws":
        """From ``rho_fit.json``: the pooled law at the top level, the others under ``per_channel``."""
        per = tuple((name, RhoLaw.from_json(law)) for name, law in sorted(d.get("per_channel", {}).items()))
        return cls(RhoLaw.from_json(d), per)


def shipped_rho_law() -> RhoLaws | None:
    """The fitted laws shipped as package data (``rho_fit.json``), or None if not fitted yet."""
    p = resources.files("semlink.semantic.vqdeepvsc") / "rho_fit.json"
    if not p.is_file():
        return None
    return RhoLaws.from_json(json.loads(p.read_text()))
