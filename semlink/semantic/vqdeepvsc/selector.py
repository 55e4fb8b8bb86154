"""Adjustable index selector and restorer (Sec. V, eqs. 16-17).

Key frame m (m = 2..M) sends index i only if the cosine similarity (eq. 17) of its quantised
vector q_m[i] = e_{s_m(i)} (eq. 16) with the previous key frame's q_{m-1}[i] is below eta;
``p_m(i) = 1`` marks a sent index. Key frame 1 sends all L_s indices (no mask). The selected
indices are concatenated (frame 1's, then each later frame's sent ones) into s_eta.

The comparison is made between the indices the RECEIVER will hold: after an index is skipped
the restorer copies it from the previous key frame, so the selector compares with the
restored previous frame (not the encoder's own), and the two sides never drift apart.

eta = 1 (the paper's setting for BCR 0.023) sends every index whose vector changed: an
unchanged index (similarity exactly 1, not below 1) is skipped; eta > 1 sends everything.
"""

from __future__ import annotations

import numpy as np


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of float [n, d] arrays (eq. 17); zero rows give 0."""
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    den = na * nb
    return np.where(den > 0, np.einsum("ij,ij->i", a, b) / np.where(den > 0, den, 1), 0.0)


def select(indices: np.ndarray, codebook: np.ndarray, eta: float) -> tuple[np.ndarray, np.ndarray]:
    """indices int [M, L_s], codebook float [L, d] -> (s_eta int64 [L_eta], p uint8 [M - 1, L_s])."""
    idx = np.asarray(indices, np.int64)
    m, ls = idx.shape
    held = idx[0].copy()  # what the receiver holds for the previous key frame
    out = [idx[0]]
    p = np.zeros((max(m - 1, 0), ls), np.uint8)
    for k in range(1, m):
        # the same index is the same vector: similarity exactly 1 (no rounding below eta = 1)
        sim = np.where(held == idx[k], 1.0, cosine_rows(codebook[held], codebook[idx[k]]))
        send = sim < eta
        p[k - 1] = send
        out.append(idx[k][send])
        held = np.where(send, idx[k], held)
    return np.concatenate(out).astype(np.int64), p


def restore(s_eta: np.ndarray, p: np.ndarray, m: int, ls: int) -> tuple[np.ndarray, bool]:
    """The restorer: (s_eta, p [M - 1, L_s]) -> (indices int64 [M, L_s], consistent).

    Never raises on damaged input: a short s_eta is padded by repeating the previous key
    frame's index (or 0 for frame 1), surplus indices are ignored; ``consistent`` is False
    when len(s_eta) != L_s + sum(p)."""
    s = np.asarray(s_eta, np.int64).reshape(-1)
    pm = np.asarray(p, bool).reshape(max(m - 1, 0), ls) if m > 1 else np.zeros((0, ls), bool)
    need = ls + int(pm.sum())
    consistent = s.size == need
    out = np.zeros((m, ls), np.int64)
    n0 = min(ls, s.size)
    out[0, :n0] = s[:n0]
    pos = ls
    for k in range(1, m):
        out[k] = out[k - 1]
        where = np.flatnonzero(pm[k - 1])
        avail = max(0, min(where.size, s.size - pos))
        out[k, where[:avail]] = s[pos : pos + avail]
        pos += where.size
    return out, consistent
