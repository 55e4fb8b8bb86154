"""Single-antenna fast paths of the OFDM chain, equivalent to Sionna's blocks (validated in tests).

* :class:`StaticOFDMChannel`: for channels whose taps are constant within a slot (AWGN, Rayleigh
  block fading, TDL at speed 0), the frequency response is computed once per slot with Sionna's
  ``cir_to_ofdm_channel`` and broadcast over the OFDM symbols, instead of once per symbol; noise
  comes from Sionna's ``AWGN`` block. Random draws happen in the same order as in Sionna's
  ``OFDMChannel`` (channel model first, then noise of the same shape), so both give the same
  received grid for the same seed.
* :class:`KroneckerLSEstimator`: LS estimation on full pilot OFDM symbols with linear
  inter/extrapolation across OFDM symbols (Sionna ``LinearInterpolator``, ``"lin"``) or averaging
  (``"lin_time_avg"``), written as one small weight matrix [symbols, pilot symbols].

Shapes: ``S`` slots, ``T`` OFDM symbols, ``K`` effective subcarriers, ``F`` FFT size.
"""

from __future__ import annotations

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

    def __call__(self, x: torch.Tensor, no: torch.Tensor):
        from sionna.phy.channel import cir_to_ofdm_channel

        a, tau = self.model(x.shape[0], self.rg.num_ofdm_symbols, self.fs)
        h = cir_to_ofdm_channel(self.freqs, a[..., :1], tau, False)  # [S, 1, 1, 1, 1, 1, F]
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

    def __call__(self, bits: np.ndarray) -> torch.Tensor:
        b = torch.as_tensor(bits, device=self.device).reshape(bits.shape[0], -1, self.k).to(torch.int64)
        sym = self.points[(b * self.weights).sum(-1)]  # [S, N] (label MSB first, as Sionna)
        grid = torch.zeros(bits.shape[0], self.shape[0] * self.shape[1], dtype=torch.complex64, device=self.device)
        grid[:, self.data_pos] = sym
        grid[:, self.pilot_pos] = self.pilots
        return grid.reshape(bits.shape[0], 1, 1, *self.shape)
