"""The digital link: payload bytes -> CRC packets -> LDPC -> QAM -> OFDM -> channel -> receiver -> bytes.

Transmitter: :mod:`semlink.phy.packets` (CRC-32 packets over whole codewords) ->
:class:`semlink.phy.ldpc.LDPCCode` (systematic 802.11n encoding) -> per-slot bit interleaver ->
Sionna ``Mapper`` (Gray QAM) -> Sionna ``ResourceGridMapper`` (data + Kronecker pilots).

Channel: registered model (:mod:`semlink.phy.channels`) applied by Sionna ``OFDMChannel``
(frequency domain) or ``OFDMModulator`` + ``TimeChannel`` + ``OFDMDemodulator`` (time domain,
cyclic prefix and ISI simulated). Noise: ``no = 10**(-snr_db/10)`` per resource element
(:mod:`semlink.phy.snr`).

Receiver: perfect CSI, Sionna ``LSChannelEstimator`` (interpolated) or
``LMMSEChannelEstimator``; LMMSE/ZF equalization and app/max-log demapping, either with Sionna's
blocks (``backend="sionna"``) or with the single-antenna fast paths of :mod:`semlink.phy.siso`
(``backend="fast"``, validated against Sionna in the tests); LDPC decoding; CRC check.

Long payloads are streamed in chunks of ``LinkConfig.batch_slots`` slots, so memory stays
bounded; chunking does not change the number of slots used or the results' statistics.
"""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from semlink.phy import packets as pk
from semlink.phy.channels import make_channel
from semlink.phy.config import LinkConfig
from semlink.phy.codes import UncodedCode, parse_code  # noqa: F401  (UncodedCode: re-exported)
from semlink.phy.received import PacketFlags
from semlink.phy.rng import sionna_generators
from semlink.phy.snr import esno_db_to_no

PILOT_SEED = 20231  # fixed pilots and interleaver: part of the link definition, not of a trial


class StageTimer:
    """Wall-clock seconds per processing stage, accumulated while ``enabled`` (benchmarks only)."""

    def __init__(self):
        self.enabled = False
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        if not self.enabled:
            yield
            return
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0


def make_code(config: LinkConfig):
    """Channel code of a config (:func:`semlink.phy.codes.parse_code`): ``LDPCCode`` or ``UncodedCode``."""
    return parse_code(config.code).build(config.decoder, config.num_iter)


class _ErrorRates:
    """Rates derived from the counters ``raw_bit_errors/coded_bits``, ``bit_errors/payload_bits`` and
    ``codeword_errors/codewords`` (nan when nothing was sent)."""

    @property
    def raw_ber(self) -> float:
        """Pre-FEC bit error rate (nan when nothing was sent)."""
        return self.raw_bit_errors / self.coded_bits if self.coded_bits else float("nan")

    @property
    def ber(self) -> float:
        """Post-FEC bit error rate of the payload (nan when nothing was sent)."""
        return self.bit_errors / self.payload_bits if self.payload_bits else float("nan")

    @property
    def bler(self) -> float:
        """Codeword (block) error rate (nan when nothing was sent)."""
        return self.codeword_errors / self.codewords if self.codewords else float("nan")



@dataclass
class LinkResult(PacketFlags, _ErrorRates):
    """What came out of one transmission.

    Attributes:
        payload: received bytes, exactly as many as were sent (bytes of lost packets included as decoded).
        packet_ok: bool [num_packets], CRC status of each packet.
        packet_starts / packet_lengths: byte range of each packet in the payload.
        raw_bit_errors / coded_bits: hard-decision errors before FEC over all coded bits sent.
        bit_errors / payload_bits: errors in the delivered payload bits (after FEC).
        codeword_errors / codewords: codewords whose information bits were wrong.
        slots: OFDM slots used; data_symbols: data resource elements carrying coded bits;
        total_symbols: every time-domain sample occupied (pilots, guards, DC, CP included).
        snr_db: Es/N0 per resource element [dB].
        llr: float32 [8 * len(payload)] channel LLRs of the payload bits (``transmit(return_llr=True)``).
    """

    payload: bytes
    packet_ok: np.ndarray
    packet_starts: np.ndarray
    packet_lengths: np.ndarray
    raw_bit_errors: int = 0
    coded_bits: int = 0
    bit_errors: int = 0
    payload_bits: int = 0
    codeword_errors: int = 0
    codewords: int = 0
    slots: int = 0
    data_symbols: int = 0
    total_symbols: int = 0
    snr_db: float = float("nan")
    llr: np.ndarray | None = None

    @property
    def all_ok(self) -> bool:
        return self.ok


@dataclass
class LinkCounters(_ErrorRates):
    """Counters summed over several transmissions (e.g. the parts of one item, or a BER point)."""

    raw_bit_errors: int = 0
    coded_bits: int = 0
    bit_errors: int = 0
    payload_bits: int = 0
    codeword_errors: int = 0
    codewords: int = 0
    packets: int = 0
    packets_lost: int = 0
    data_symbols: int = 0
    total_symbols: int = 0

    def add(self, r: LinkResult) -> None:
        self.raw_bit_errors += r.raw_bit_errors
        self.coded_bits += r.coded_bits
        self.bit_errors += r.bit_errors
        self.payload_bits += r.payload_bits
        self.codeword_errors += r.codeword_errors
        self.codewords += r.codewords
        self.packets += r.num_packets
        self.packets_lost += r.packets_lost
        self.data_symbols += r.data_symbols
        self.total_symbols += r.total_symbols

    def merge(self, other: "LinkCounters") -> None:
        """Add another counter set field by field (e.g. the parts of one item)."""
        for f in dataclasses.fields(LinkCounters):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class Link:
    """An explicit digital link built from a :class:`LinkConfig`.

    ``Link(LinkConfig(channel="tdl-c", modulation="16qam")).transmit(payload, snr_db=10, rng=rng)``
    """

    def __init__(self, config: LinkConfig | None = None):
        self.config = config = config or LinkConfig()
        self.code = make_code(config)
        self.channel = make_channel(config.channel, config.channel_params)
        self.device = config.device
        self.timer = StageTimer()
        self._build()

    # ------------------------------------------------------------------ set-up
    def _build(self) -> None:
        with sionna_generators(PILOT_SEED):  # deterministic pilots (drawn at construction)
            self._build_blocks()

    def _build_blocks(self) -> None:
        """Sionna blocks of the transmitter/receiver (run under fixed generators: pilots are drawn here)."""
        from sionna.phy.mapping import Demapper, Mapper
        from sionna.phy.mimo import StreamManagement
        from sionna.phy.ofdm import (
            LMMSEEqualizer,
            LSChannelEstimator,
            RemoveNulledSubcarriers,
            ResourceGrid,
            ResourceGridMapper,
            ZFEqualizer,
        )

        cfg, g, dev = self.config, self.config.grid, self.device
        self.rg = ResourceGrid(
            num_ofdm_symbols=g.num_ofdm_symbols,
            fft_size=g.fft_size,
            subcarrier_spacing=g.subcarrier_spacing,
            num_tx=1,
            num_streams_per_tx=1,
            cyclic_prefix_length=g.cyclic_prefix_length,
            num_guard_carriers=g.num_guard_carriers,
            dc_null=g.dc_null,
            pilot_pattern="kronecker" if g.pilot_ofdm_symbol_indices else "empty",
            pilot_ofdm_symbol_indices=list(g.pilot_ofdm_symbol_indices) or None,
            device=dev,
        )
        self.bps = cfg.bits_per_symbol
        self.slot_bits = self.rg.num_data_symbols * self.bps
        self.mapper = Mapper("qam", self.bps, device=dev)
        self.demapper = Demapper(cfg.demapping, "qam", self.bps, device=dev)
        self.rg_mapper = ResourceGridMapper(self.rg, device=dev)
        self.remove_nulled = RemoveNulledSubcarriers(self.rg, device=dev)
        sm = StreamManagement(np.ones([1, 1], dtype=int), 1)
        self.sionna_equalizer = (LMMSEEqualizer if cfg.equalizer == "lmmse" else ZFEqualizer)(self.rg, sm, device=dev)
        if cfg.estimator == "ls":
            self.estimator = LSChannelEstimator(self.rg, interpolation_type=cfg.interpolation, device=dev)
        elif cfg.estimator == "lmmse":
            self.estimator = self._build_lmmse_estimator()
        else:
            self.estimator = None
        self._build_channel()
        self._build_fast_paths()
        perm_rng = np.random.default_rng(PILOT_SEED)
        self.perm = perm_rng.permutation(self.slot_bits) if cfg.interleave else None
        # Data resource-element positions (for the fast single-antenna receiver), in the order the
        # ResourceGridMapper fills them: [num_data_symbols] flat indices into [symbols, effective sc].
        mask = self.rg.pilot_pattern.mask[0, 0].cpu().numpy()  # [symbols, eff_sc], 1 = pilot
        self.data_idx_np = np.flatnonzero(mask.reshape(-1) == 0)
        self.data_idx = torch.as_tensor(self.data_idx_np, device=dev)

    def _build_channel(self) -> None:
        from sionna.phy.channel import OFDMChannel, TimeChannel
        from sionna.phy.ofdm import OFDMDemodulator, OFDMModulator

        cfg, g, dev = self.config, self.config.grid, self.device
        model = self.channel.model(dev)
        self.channel_model = model
        if cfg.domain == "freq":
            self.ofdm_channel = OFDMChannel(model, self.rg, normalize_channel=False, return_channel=True, device=dev)
        else:
            self.l_min = -6  # sinc-filter pre-cursor taps (Sionna's default bandwidth-limited model)
            self.l_max = int(math.ceil(self.channel.max_delay * g.bandwidth)) + 6
            n_samples = g.num_samples
            self.modulator = OFDMModulator(g.cyclic_prefix_length, device=dev)
            self.demodulator = OFDMDemodulator(g.fft_size, self.l_min, g.cyclic_prefix_length, device=dev)
            self.time_channel = TimeChannel(
                model, g.bandwidth, n_samples, l_min=self.l_min, l_max=self.l_max,
                normalize_channel=False, return_channel=True, device=dev,
            )

    def _build_fast_paths(self) -> None:
        """Single-antenna equivalents of Sionna blocks used by ``backend="fast"`` where they apply."""
        from semlink.phy import fast_ofdm

        cfg, g = self.config, self.config.grid
        fast = cfg.backend == "fast"
        self.fast_channel = None
        if fast and cfg.domain == "freq" and fast_ofdm.is_time_invariant(self.channel_model):
            self.fast_channel = fast_ofdm.StaticOFDMChannel(self.channel_model, self.rg, self.device)
        self.fast_ls = None
        if fast and cfg.estimator == "ls" and cfg.interpolation in ("lin", "lin_time_avg"):
            self.fast_ls = fast_ofdm.KroneckerLSEstimator(self.rg, g.pilot_ofdm_symbol_indices, cfg.interpolation, self.device)
        self.eff_idx = torch.as_tensor(self.rg.effective_subcarrier_ind, device=self.device)
        self.fast_mapper = fast_ofdm.FastGridMapper(self.rg, self.bps, self.device) if fast else None

    #: channel realisations averaged for the LMMSE estimator's covariance matrices
    LMMSE_SAMPLES = 2000

    def lmmse_cache_facts(self) -> dict:
        """Everything the LMMSE covariances depend on (their cache key in the user cache)."""
        import dataclasses

        from importlib.metadata import PackageNotFoundError, version

        try:
            sionna_version = version("sionna-no-rt")
        except PackageNotFoundError:
            sionna_version = ""
        c = self.config
        return {"what": "lmmse-covariances", "format": 1, "channel": c.channel, "channel_params": c.channel_params,
                "grid": dataclasses.asdict(c.grid), "samples": self.LMMSE_SAMPLES, "seed": PILOT_SEED + 1,
                "sionna": sionna_version}

    def _build_lmmse_estimator(self):
        """Sionna LMMSE estimator with time/frequency covariances estimated from channel samples.

        The covariances are computed once per channel/grid configuration and kept in the user
        cache (:mod:`semlink.cache`); ``self.lmmse_from_cache`` says whether they came from there.
        """
        from sionna.phy.ofdm import LMMSEChannelEstimator

        from semlink.cache import cache_key, load_arrays, save_arrays

        facts = self.lmmse_cache_facts()
        key = cache_key(facts)
        stored = load_arrays("lmmse", key)
        self.lmmse_from_cache = stored is not None and {"cov_t", "cov_f"} <= set(stored)
        if self.lmmse_from_cache:
            cov_t = torch.as_tensor(stored["cov_t"], device=self.device)
            cov_f = torch.as_tensor(stored["cov_f"], device=self.device)
        else:
            cov_t, cov_f = self._estimate_covariances()
            save_arrays("lmmse", key, {"cov_t": cov_t.cpu().numpy(), "cov_f": cov_f.cpu().numpy()}, facts)
        return LMMSEChannelEstimator(self.rg, cov_t, cov_f, order="f-t", device=self.device)

    def _estimate_covariances(self):
        """(time [S, S], frequency [K, K]) complex64 covariances of the channel from LMMSE_SAMPLES draws."""
        from sionna.phy.channel import GenerateOFDMChannel

        gen = GenerateOFDMChannel(self.channel.model(self.device), self.rg, normalize_channel=False, device=self.device)
        eff = torch.as_tensor(self.rg.effective_subcarrier_ind, device=self.device)
        with torch.no_grad(), sionna_generators(PILOT_SEED + 1):
            h = gen(self.LMMSE_SAMPLES)[:, 0, 0, 0, 0][..., eff]  # [batch, symbols, eff_sc]
            cov_f = torch.einsum("bsk,bsl->kl", h, h.conj()) / (h.shape[0] * h.shape[1])
            cov_t = torch.einsum("bsk,btk->st", h, h.conj()) / (h.shape[0] * h.shape[2])
            cov_t = cov_t / cov_t.diagonal().real.mean()  # power carried by cov_f
        return cov_t, cov_f

    # ------------------------------------------------------------------ one batch of slots
    @torch.no_grad()
    def _slots(self, coded: np.ndarray, no: float) -> np.ndarray:
        """Coded bits uint8 [S, slot_bits] -> LLRs float32 [S, slot_bits] through the whole OFDM chain."""
        cfg, dev = self.config, self.device
        T = self.timer
        with T("map + resource grid"):
            if self.fast_mapper is not None:
                grid = self.fast_mapper(coded, self.perm)  # [S, 1, 1, n_sym, fft], interleaved
            else:
                if self.perm is not None:
                    coded = coded[:, self.perm]
                b = torch.as_tensor(coded, dtype=torch.float32, device=dev)[:, None, None, :]
                x = self.mapper(b)  # [S, 1, 1, num_data_symbols]
                grid = self.rg_mapper(x)  # [S, 1, 1, n_sym, fft]
            no_t = torch.tensor(no, dtype=torch.float32, device=dev)
        with T("channel"):
            if self.fast_channel is not None:
                y, h_freq = self.fast_channel(grid, no_t)
            elif cfg.domain == "freq":
                y, h_freq = self.ofdm_channel(grid, no_t)
            else:
                from sionna.phy.channel import time_to_ofdm_channel

                x_time = self.modulator(grid)
                y_time, h_time = self.time_channel(x_time, no_t)
                # The channel's tail (past the slot's last sample) is cut: slots are independent
                # transmissions (no inter-slot interference is simulated).
                y = self.demodulator(y_time)[..., : self.config.grid.num_ofdm_symbols, :]
                h_freq = None
                if cfg.estimator == "perfect":
                    # Perfect CSI = frequency response of the taps inside one FFT window (longer
                    # responses are inter-symbol interference, not channel), sampled per OFDM symbol.
                    g = self.config.grid
                    h_freq = time_to_ofdm_channel(h_time[..., : g.fft_size], self.rg, self.l_min)
                    h_freq = h_freq[..., : g.num_ofdm_symbols, :]  # drop the channel's tail samples
        if cfg.backend == "sionna":
            with T("channel estimation"):
                h_hat, err_var = self._estimate_sionna(y, h_freq, no_t)
            with T("equalization"):
                x_hat, no_eff = self.sionna_equalizer(y, h_hat, err_var, no_t)
            with T("demapping"):
                llr = self.demapper(x_hat, no_eff)[:, 0, 0]
        else:
            from semlink.phy import siso

            n_s = y.shape[0]
            y_eff = y[:, 0, 0][..., self.eff_idx]  # [S, T, K]
            with T("channel estimation"):
                if cfg.estimator == "perfect":
                    h_eff = h_freq[:, 0, 0, 0, 0][..., self.eff_idx]  # [S, T or 1, K]
                    h_eff = h_eff.expand(n_s, y_eff.shape[1], -1)
                    ev = torch.zeros((), dtype=torch.float32, device=dev)
                elif self.fast_ls is not None:
                    h_eff, ev = self.fast_ls(y_eff, no_t)  # [S, T, K], [T, K]
                    ev = ev.reshape(-1)[self.data_idx]
                else:
                    h_hat, err_var = self.estimator(y, no_t)
                    h_eff = h_hat[:, 0, 0, 0, 0]
                    ev = torch.broadcast_to(err_var, h_hat.shape)[:, 0, 0, 0, 0].reshape(n_s, -1)[:, self.data_idx]
            if y_eff.device.type == "cpu":
                # one numba pass: equalize, demap, de-interleave (ZF == LMMSE for one antenna)
                with T("equalization + demapping"):
                    return siso.equalize_demap(
                        y_eff.reshape(n_s, -1).numpy(), h_eff.reshape(n_s, -1).numpy(), ev.numpy(), no,
                        self.bps, cfg.demapping, perm=self.perm, idx=self.data_idx_np,
                    )
            with T("equalization"):
                h_d = h_eff.reshape(n_s, -1)[:, self.data_idx]
                y_d = y_eff.reshape(n_s, -1)[:, self.data_idx]
                eq = siso.equalize_lmmse if cfg.equalizer == "lmmse" else siso.equalize_zf
                x_hat, no_eff = eq(y_d, h_d, ev, no_t)
            with T("demapping"):
                llr = siso.demap_qam(x_hat, no_eff, self.bps, method=cfg.demapping)
        with T("deinterleave"):
            llr = llr.reshape(coded.shape[0], -1).float().cpu().numpy()
            if self.perm is not None:
                out = np.empty_like(llr)
                out[:, self.perm] = llr
                llr = out
        return llr

    def _estimate_sionna(self, y, h_freq, no_t):
        """Sionna receiver front end: perfect CSI (nulled carriers removed) or the Sionna estimator."""
        if self.config.estimator == "perfect":
            h = h_freq.expand(*h_freq.shape[:5], y.shape[-2], h_freq.shape[-1])
            return self.remove_nulled(h), torch.zeros((), dtype=torch.float32, device=self.device)
        return self.estimator(y, no_t)

    def _chunk_codewords(self) -> int:
        """Codewords per chunk: about ``batch_slots`` slots, and a whole number of slots when possible
        (so that chunking adds no padding slot)."""
        n = self.code.n
        align = self.slot_bits // math.gcd(n, self.slot_bits)  # codewords filling whole slots
        target = max(1, (self.config.batch_slots * self.slot_bits) // n)
        if align > 4 * target:
            return target
        return max(align, (target // align) * align)

    # ------------------------------------------------------------------ public API
    def transmit(self, payload: bytes | bytearray | memoryview, snr_db: float, rng: np.random.Generator,
                 return_llr: bool = False) -> LinkResult:
        """Send ``payload`` at Es/N0 ``snr_db`` [dB]; ``rng`` seeds every random draw of this call.

        Args:
            return_llr: also return ``LinkResult.llr``, float32 [8 * len(payload)]: the demapper's
                channel LLRs (``log P(1)/P(0)``, before LDPC decoding) of every payload bit, in
                ``np.unpackbits(payload)`` order.

        Raises:
            ValueError: payload not bytes-like, snr_db not a finite number, rng not a numpy Generator.
        """
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise ValueError(f"payload must be bytes-like, got {type(payload).__name__}")
        payload = bytes(payload)
        snr = _check_snr(snr_db)
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        with sionna_generators(int(rng.integers(0, 2**31 - 1))):
            return self._transmit(payload, snr, return_llr)

    def _transmit(self, payload: bytes, snr: float, return_llr: bool) -> LinkResult:
        no = float(esno_db_to_no(snr))
        k, n = self.code.k, self.code.n
        lay = pk.layout(len(payload), k, self.config.codewords_per_packet)
        res = LinkResult(
            payload=b"", packet_ok=np.zeros(lay.num_packets, dtype=bool),
            packet_starts=lay.starts, packet_lengths=lay.lengths, snr_db=snr,
        )
        out = bytearray(len(payload))
        out_llr = np.zeros(8 * len(payload), np.float32) if return_llr else None
        cw_end = np.cumsum(lay.codewords)  # codeword index one past each packet
        chunk = self._chunk_codewords()
        carry = np.zeros((0, k), dtype=np.uint8)  # decoded rows of packets not yet complete
        carry_llr = np.zeros((0, k), dtype=np.float32)  # their channel LLRs (return_llr)
        p_done = 0  # packets parsed so far
        for c0 in range(0, lay.num_codewords, chunk):
            c1 = min(c0 + chunk, lay.num_codewords)
            with self.timer("packetize + CRC"):
                info = _codeword_info(payload, lay, cw_end, c0, c1)
            with self.timer("LDPC encode"):
                coded = self.code.encode(info)
            n_slots = -(-coded.size // self.slot_bits)
            slots = np.zeros(n_slots * self.slot_bits, dtype=np.uint8)
            slots[: coded.size] = coded.reshape(-1)
            llr = self._slots(slots.reshape(n_slots, self.slot_bits), no).reshape(-1)[: coded.size].reshape(-1, n)
            with self.timer("LDPC decode"):
                dec = self.code.decode(llr)
            res.slots += n_slots
            res.data_symbols += -(-coded.size // self.bps)
            res.raw_bit_errors += int(((llr > 0) != coded.astype(bool)).sum())
            res.coded_bits += coded.size
            res.codeword_errors += int((dec != info).any(axis=1).sum())
            res.codewords += c1 - c0
            carry = np.concatenate([carry, dec])
            if return_llr:
                carry_llr = np.concatenate([carry_llr, llr[:, :k]])  # systematic bits come first
            last = int(np.searchsorted(cw_end, c1, side="right"))  # packets complete after this chunk
            if last > p_done:
                first_cw = int(cw_end[p_done - 1]) if p_done else 0
                used = int(cw_end[last - 1]) - first_cw
                with self.timer("CRC check + depacketize"):
                    bodies, ok = pk.bits_to_packets(carry[:used], lay, p_done, last)
                for j, body in enumerate(bodies):
                    s = int(lay.starts[p_done + j])
                    out[s : s + len(body)] = body
                if return_llr:
                    for j, v in enumerate(pk.payload_llrs(carry_llr[:used], lay, p_done, last)):
                        s = 8 * int(lay.starts[p_done + j])
                        out_llr[s : s + v.size] = v
                    carry_llr = carry_llr[used:]
                res.packet_ok[p_done:last] = ok
                carry = carry[used:]
                p_done = last
        res.payload = bytes(out)
        res.llr = out_llr
        res.payload_bits = 8 * len(payload)
        if payload:
            diff = np.bitwise_xor(np.frombuffer(payload, np.uint8), np.frombuffer(res.payload, np.uint8))
            res.bit_errors = int(np.unpackbits(diff).sum())
        res.total_symbols = res.slots * self.config.grid.num_samples
        return res


def _codeword_info(payload: bytes, lay: pk.PacketLayout, cw_end: np.ndarray, c0: int, c1: int) -> np.ndarray:
    """Information bits uint8 [c1 - c0, k] of codewords ``c0..c1-1`` of the packet stream."""
    p0 = int(np.searchsorted(cw_end, c0, side="right"))
    p1 = int(np.searchsorted(cw_end, c1 - 1, side="right")) + 1
    bits = pk.packets_to_bits(payload, lay, p0, p1)
    first = int(cw_end[p0 - 1]) if p0 else 0
    return bits[c0 - first : c1 - first]


def _check_snr(snr_db) -> float:
    try:
        snr = float(snr_db)
    except (TypeError, ValueError):
        raise ValueError(f"snr_db must be a number in dB, got {snr_db!r}") from None
    if not math.isfinite(snr):
        raise ValueError(f"snr_db must be finite, got {snr_db!r}")
    return snr
