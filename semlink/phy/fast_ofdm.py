"""Single-antenna fast paths of the OFDM chain, equivalent to Sionna's blocks (validated in tests).

* :class:`StaticOFDMChannel`: for channels whose taps are constant within a slot (AWGN, Rayleigh
  block fading, TDL at speed 0), the frequency response is computed once per slot (Sionna's
  ``cir_to_ofdm_channel``, or one matrix product with cached complex exponentials when the path
  delays are the same in every slot) and broadcast over the OFDM symbols; noise
  comes from Sionna's ``AWGN`` block. Random draws happen in the same order as in Sionna's
  ``OFDMChannel`` (channel model first, then noise of the same shape), so both give the same
  received grid for the same seed.
* :class:`KroneckerLSEstimator`: LS estimation on full pilot OFDM symbols with linear
  inter/extrapolation across OFDM symbols (Sionna ``LinearInterpolator``, ``"lin"``) or averaging
  (``"lin_time_avg"``), written as one small weight matrix [symbols, pilot symbols].

Shapes: ``S`` slots, ``T`` OFDM symbols, ``K`` effective subcarriers, ``F`` FFT size.
"""

from __future__ import annotations

import numba
import numpy as np
import torch


class StaticOFDMChannel:
    """Frequency-domain channel for time-invariant-per-slot models.

    Call with the grid ``x`` [S, 1, 1, T, F] and noise variance ``no``; returns
    ``(y [S, 1, 1, T, F], h [S, 1, 1, 1, 1, 1, F])`` (``h`` broadcasts over symbols).
    """

    def __init__(self, model, rg, device: str):
        from sionna.phy.channel import AWGN, subcarrier_frequencies

        self.model = model
        self.rg = rg
        self.freqs = subcarrier_frequencies(rg.fft_size, rg.subcarrier_spacing, device=device)
        self.fs = 1.0 / rg.ofdm_symbol_duration
        self.awgn = AWGN(device=device)

        self._tau = None  # path delays [P] of the cached steering matrix
        self._steer = None  # exp(-j 2 pi f tau) complex64 [P, F]

    def _response(self, a: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """Frequency response [S, 1, 1, 1, 1, 1, F] of the taps a [S, 1, 1, 1, 1, P, T] at time 0.

        Sionna's ``cir_to_ofdm_channel`` (sum over paths of a_p exp(-j 2 pi f tau_p)); when every
        slot has the same path delays (the TDL profiles: fixed, scaled delays), the complex
        exponentials are computed once and the sum is one [S, P] x [P, F] product."""
        from sionna.phy.channel import cir_to_ofdm_channel

        s, p = a.shape[0], a.shape[5]
        t0 = tau[0].reshape(-1)
        if a.shape[1:5] != (1, 1, 1, 1) or tau.numel() != s * p or not bool((tau.reshape(s, p) == t0).all()):
            return cir_to_ofdm_channel(self.freqs, a[..., :1], tau, False)
        if self._tau is None or not torch.equal(self._tau, t0):
            f = self.freqs.to(device=tau.device, dtype=tau.dtype)
            self._steer = torch.exp(torch.complex(torch.zeros(p, f.shape[0], dtype=tau.dtype, device=tau.device),
                                                  -2 * np.pi * t0[:, None] * f[None, :])).to(a.dtype)
            self._tau = t0.clone()
        return (a[:, 0, 0, 0, 0, :, 0] @ self._steer).reshape(s, 1, 1, 1, 1, 1, -1)

    def __call__(self, x: torch.Tensor, no: torch.Tensor):
        a, tau = self.model(x.shape[0], self.rg.num_ofdm_symbols, self.fs)
        h = self._response(a, tau)  # [S, 1, 1, 1, 1, 1, F]
        y = h[:, :, :, 0, 0] * x  # [S, 1, 1, T, F]
        return self.awgn(y, no), h


def is_time_invariant(model) -> bool:
    """Whether a semlink channel model holds its taps constant within a slot."""
    from sionna.phy.channel import RayleighBlockFading

    from semlink.phy.channels import TimeInvariantModel, _UnitChannelModel

    return isinstance(model, (TimeInvariantModel, _UnitChannelModel, RayleighBlockFading))


class KroneckerLSEstimator:
    """LS channel estimates at pilot OFDM symbols, interpolated across symbols like Sionna's
    ``LSChannelEstimator`` with ``interpolation_type`` ``"lin"`` or ``"lin_time_avg"``.

    Call with the received effective subcarriers ``y`` [S, T, K] and ``no``; returns
    ``h_hat`` [S, T, K] and ``err_var`` [T, K].
    """

    def __init__(self, rg, pilot_symbols: tuple[int, ...], interpolation: str, device: str):
        if interpolation not in ("lin", "lin_time_avg"):
            raise ValueError(f"interpolation={interpolation!r} has no fast path (lin, lin_time_avg)")
        t, k = rg.num_ofdm_symbols, rg.num_effective_subcarriers
        p = sorted(pilot_symbols)
        pilots = rg.pilot_pattern.pilots[0, 0].reshape(len(p), k)  # Kronecker: symbol-major order
        self.p_idx = torch.as_tensor(p, device=device)
        self.pilot_conj_over_pow = (pilots.conj() / (pilots.abs() ** 2)).to(device)  # [P, K]
        self.inv_pow = (1.0 / pilots.abs() ** 2).to(device)
        w = np.zeros((t, len(p)), dtype=np.float32)
        if interpolation == "lin_time_avg" or len(p) == 1:
            w[:] = 1.0 / len(p)
        else:
            for s in range(t):
                j = int(np.clip(np.searchsorted(p, s, side="right") - 1, 0, len(p) - 2))
                x0, x1 = p[j], p[j + 1]
                frac = (s - x0) / (x1 - x0)
                w[s, j], w[s, j + 1] = 1 - frac, frac
        self.w = torch.as_tensor(w, device=device)
        self.wc = self.w.to(torch.complex64)

    def __call__(self, y: torch.Tensor, no: torch.Tensor):
        hp = y[:, self.p_idx] * self.pilot_conj_over_pow  # [S, P, K]
        h = torch.einsum("tp,spk->stk", self.wc, hp)
        err = self.w @ (no * self.inv_pow)  # [T, K]
        return h, err


class FastGridMapper:
    """Gray-QAM mapping and resource-grid mapping in one gather/scatter, equal to Sionna's
    ``Mapper`` + ``ResourceGridMapper`` for one transmitter and stream.

    Call with coded bits uint8 [S, num_data_symbols * k]; returns the grid complex64 [S, 1, 1, T, F].
    """

    def __init__(self, rg, num_bits_per_symbol: int, device: str):
        from semlink.phy.siso import qam_constellation

        self.k = num_bits_per_symbol
        self.points = torch.tensor(np.array(qam_constellation(num_bits_per_symbol)), device=device)
        t, f = rg.num_ofdm_symbols, rg.fft_size
        eff = np.asarray(rg.effective_subcarrier_ind)
        mask = rg.pilot_pattern.mask[0, 0].cpu().numpy().reshape(-1)  # [T * K], 1 = pilot
        full = (np.arange(t)[:, None] * f + eff[None, :]).reshape(-1)  # [T * K] -> flat [T * F]
        self.data_pos = torch.as_tensor(full[mask == 0], device=device)
        self.pilot_pos = torch.as_tensor(full[mask == 1], device=device)
        self.pilots = rg.pilot_pattern.pilots[0, 0].to(device=device, dtype=torch.complex64)
        self.shape = (t, f)
        self.weights = torch.as_tensor(1 << np.arange(self.k - 1, -1, -1), device=device, dtype=torch.int64)
        self.device = device
        self._points_np = np.ascontiguousarray(self.points.cpu().numpy())
        self._data_pos_np = self.data_pos.cpu().numpy().astype(np.int64)
        self._pilot_pos_np = self.pilot_pos.cpu().numpy().astype(np.int64)
        self._pilots_np = np.ascontiguousarray(self.pilots.cpu().numpy().reshape(-1))

    def __call__(self, bits: np.ndarray, perm: np.ndarray | None = None) -> torch.Tensor:
        """bits uint8 [S, N * k] -> grid; with ``perm``, symbol bit j is ``bits[:, perm[j]]``
        (the interleaved order ``bits[:, perm]``, without materialising it)."""
        if self.device == "cpu":
            n_bits = self.data_pos.numel() * self.k
            bits = np.ascontiguousarray(bits, dtype=np.uint8)
            if bits.ndim != 2 or bits.shape[1] != n_bits:
                raise ValueError(f"bits must be [S, {n_bits}], got {bits.shape}")
            perm = np.arange(n_bits, dtype=np.int64) if perm is None else np.asarray(perm, dtype=np.int64)
            grid = np.empty((bits.shape[0], self.shape[0] * self.shape[1]), dtype=np.complex64)
            _map_kernel(bits, perm, self.k, self._points_np, self._data_pos_np, self._pilot_pos_np, self._pilots_np, grid)
            return torch.from_numpy(grid).reshape(bits.shape[0], 1, 1, *self.shape)
        if perm is not None:
            bits = bits[:, perm]
        b = torch.as_tensor(bits, device=self.device).reshape(bits.shape[0], -1, self.k).to(torch.int64)
        sym = self.points[(b * self.weights).sum(-1)]  # [S, N] (label MSB first, as Sionna)
        grid = torch.zeros(bits.shape[0], self.shape[0] * self.shape[1], dtype=torch.complex64, device=self.device)
        grid[:, self.data_pos] = sym
        grid[:, self.pilot_pos] = self.pilots
        return grid.reshape(bits.shape[0], 1, 1, *self.shape)


@numba.njit(parallel=True, cache=True, nogil=True)
def _map_kernel(bits, perm, k, points, data_pos, pilot_pos, pilots, grid):  # pragma: no cover - compiled
    """grid[s] = 0, then QAM points of the (permuted) bits at data_pos and pilots at pilot_pos."""
    n_slots, n_re = grid.shape
    n_sym = data_pos.shape[0]
    for s in numba.prange(n_slots):
        for i in range(n_re):
            grid[s, i] = 0
        for i in range(n_sym):
            label = 0
            for j in range(k):
                label = (label << 1) | bits[s, perm[i * k + j]]
            grid[s, data_pos[i]] = points[label]
        for i in range(pilot_pos.shape[0]):
            grid[s, pilot_pos[i]] = pilots[i]
