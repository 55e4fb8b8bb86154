"""Validated configuration objects of the digital link.

Every field is checked at construction; an impossible value raises ``ValueError`` naming the
field and the allowed values, before any Sionna block is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from semlink.phy.channels import list_channels, make_channel

from semlink.errors import ConfigError

MODULATIONS = {"qpsk": 2, "16qam": 4, "64qam": 6}
#: the code strings the shipped tables support (semlink.phy.codes parses them; plug-in families too)
CODES = ("80211n-648-3/4", "80211n-648-1/2", "none")
DEMAPPINGS = ("app", "maxlog")
DECODERS = ("fast", "sionna")
ESTIMATORS = ("perfect", "ls", "lmmse")
INTERPOLATIONS = ("lin", "nn", "lin_time_avg")
EQUALIZERS = ("lmmse", "zf")
DOMAINS = ("freq", "time")
BACKENDS = ("fast", "sionna")


def _choice(name: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(str, allowed))}")


@dataclass(frozen=True)
class OFDMGrid:
    """OFDM resource grid of one slot (Sionna ``ResourceGrid``). Default: 802.11-like 20 MHz.

    Attributes:
        fft_size: subcarriers (64).
        subcarrier_spacing: Hz (312.5e3, so 20 MHz sampling).
        cyclic_prefix_length: samples (16 = 0.8 us).
        num_guard_carriers: (left, right) nulled edge subcarriers ((6, 5) as in 802.11).
        dc_null: null the DC subcarrier (True).
        num_ofdm_symbols: OFDM symbols per slot (14).
        pilot_ofdm_symbol_indices: OFDM symbols fully used for pilots (Kronecker pattern), (2, 11).
    """

    fft_size: int = 64
    subcarrier_spacing: float = 312.5e3
    cyclic_prefix_length: int = 16
    num_guard_carriers: tuple[int, int] = (6, 5)
    dc_null: bool = True
    num_ofdm_symbols: int = 14
    pilot_ofdm_symbol_indices: tuple[int, ...] = (2, 11)

    def __post_init__(self):
        object.__setattr__(self, "num_guard_carriers", tuple(int(x) for x in self.num_guard_carriers))
        object.__setattr__(self, "pilot_ofdm_symbol_indices", tuple(int(x) for x in self.pilot_ofdm_symbol_indices))
        if not isinstance(self.fft_size, int) or self.fft_size < 8:
            raise ConfigError(f"grid.fft_size must be an int >= 8, got {self.fft_size!r}")
        if not self.subcarrier_spacing > 0:
            raise ConfigError(f"grid.subcarrier_spacing must be > 0 Hz, got {self.subcarrier_spacing!r}")
        if not 0 <= self.cyclic_prefix_length <= self.fft_size:
            raise ConfigError(f"grid.cyclic_prefix_length must be in [0, fft_size], got {self.cyclic_prefix_length!r}")
        if len(self.num_guard_carriers) != 2 or min(self.num_guard_carriers) < 0:
            raise ConfigError(f"grid.num_guard_carriers must be two ints >= 0, got {self.num_guard_carriers!r}")
        if sum(self.num_guard_carriers) + int(self.dc_null) >= self.fft_size:
            raise ConfigError("grid.num_guard_carriers leave no usable subcarrier")
        if self.num_ofdm_symbols < 1:
            raise ConfigError(f"grid.num_ofdm_symbols must be >= 1, got {self.num_ofdm_symbols!r}")
        p = self.pilot_ofdm_symbol_indices
        if any(not 0 <= i < self.num_ofdm_symbols for i in p) or len(set(p)) != len(p):
            raise ConfigError(f"grid.pilot_ofdm_symbol_indices must be distinct indices < num_ofdm_symbols, got {p!r}")
        if len(p) >= self.num_ofdm_symbols:
            raise ConfigError("grid.pilot_ofdm_symbol_indices leave no OFDM symbol for data")

    @property
    def bandwidth(self) -> float:
        """Sampling rate [Hz] = fft_size * subcarrier_spacing."""
        return self.fft_size * self.subcarrier_spacing

    @property
    def num_effective_subcarriers(self) -> int:
        return self.fft_size - sum(self.num_guard_carriers) - int(self.dc_null)

    @property
    def num_data_symbols(self) -> int:
        """Data resource elements per slot."""
        return self.num_effective_subcarriers * (self.num_ofdm_symbols - len(self.pilot_ofdm_symbol_indices))

    @property
    def num_samples(self) -> int:
        """Time-domain samples per slot, cyclic prefixes included (every RE the slot occupies)."""
        return (self.fft_size + self.cyclic_prefix_length) * self.num_ofdm_symbols


@dataclass(frozen=True)
class LinkConfig:
    """Everything that defines the digital link. Defaults: 802.11n LDPC 648 r3/4, QPSK, 802.11-like
    OFDM, TDL-C (100 ns, static), LS estimation with linear interpolation, LMMSE equalization.

    Attributes:
        code: ``"80211n-648-3/4"``, ``"80211n-648-1/2"`` or ``"none"`` (uncoded).
        modulation: ``"qpsk"``, ``"16qam"``, ``"64qam"`` (Gray, Sionna constellations).
        demapping: ``"app"`` (exact) or ``"maxlog"``.
        decoder: LDPC decoder, ``"fast"`` or ``"sionna"`` (reference :class:`LDPCBPDecoder`).
        num_iter: maximum BP iterations.
        channel: registered channel name (:func:`semlink.phy.channels.list_channels`).
        channel_params: parameters of that channel (validated by it).
        domain: ``"freq"`` (OFDMChannel) or ``"time"`` (TimeChannel, CP and ISI simulated).
        estimator: ``"perfect"``, ``"ls"`` or ``"lmmse"`` (Sionna LMMSEChannelEstimator with
            covariances estimated once per config from channel samples).
        interpolation: LS interpolation, ``"lin"``, ``"nn"``, ``"lin_time_avg"``.
        equalizer: ``"lmmse"`` or ``"zf"``.
        grid: the :class:`OFDMGrid`.
        codewords_per_packet: codewords of a full CRC packet (4: 239 payload bytes at r3/4).
        interleave: permute the coded bits of each slot (fixed pseudo-random permutation) so that a
            codeword sees many subcarriers; the analogue of 802.11's frequency interleaver.
        backend: ``"fast"`` (vectorised single-antenna equalizer/demapper validated against Sionna)
            or ``"sionna"`` (Sionna's general blocks throughout).
        batch_slots: slots processed per chunk (bounds memory for long payloads).
        device: torch device for the PHY, ``"cpu"`` or ``"cuda"``/``"cuda:N"``.
    """

    code: str = "80211n-648-3/4"
    modulation: str = "qpsk"
    demapping: str = "app"
    decoder: str = "fast"
    num_iter: int = 20
    channel: str = "tdl-c"
    channel_params: dict = field(default_factory=dict)
    domain: str = "freq"
    estimator: str = "ls"
    interpolation: str = "lin"
    equalizer: str = "lmmse"
    grid: OFDMGrid = field(default_factory=OFDMGrid)
    codewords_per_packet: int = 4
    interleave: bool = True
    backend: str = "fast"
    batch_slots: int = 256
    device: str = "cpu"

    def __post_init__(self):
        from semlink.phy.codes import parse_code

        parse_code(self.code)  # ConfigError naming the string and the known codes
        _choice("modulation", self.modulation, tuple(MODULATIONS))
        _choice("demapping", self.demapping, DEMAPPINGS)
        _choice("decoder", self.decoder, DECODERS)
        _choice("channel", self.channel, list_channels())
        _choice("domain", self.domain, DOMAINS)
        _choice("estimator", self.estimator, ESTIMATORS)
        _choice("interpolation", self.interpolation, INTERPOLATIONS)
        _choice("equalizer", self.equalizer, EQUALIZERS)
        _choice("backend", self.backend, BACKENDS)
        if not isinstance(self.grid, OFDMGrid):
            if isinstance(self.grid, dict):
                object.__setattr__(self, "grid", OFDMGrid(**self.grid))
            else:
                raise ConfigError(f"grid must be an OFDMGrid or a dict of its fields, got {type(self.grid).__name__}")
        if not isinstance(self.channel_params, dict):
            raise ConfigError(f"channel_params must be a dict, got {type(self.channel_params).__name__}")
        make_channel(self.channel, self.channel_params)  # validates the parameters
        for name in ("num_iter", "codewords_per_packet", "batch_slots"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive int, got {v!r}")
        if not (self.device == "cpu" or str(self.device).startswith("cuda")):
            raise ConfigError(f"device={self.device!r} is not allowed; use 'cpu', 'cuda' or 'cuda:N'")
        if self.estimator != "perfect" and not self.grid.pilot_ofdm_symbol_indices:
            raise ConfigError(f"estimator={self.estimator!r} needs pilots: grid.pilot_ofdm_symbol_indices is empty")

    @property
    def bits_per_symbol(self) -> int:
        return MODULATIONS[self.modulation]

    def describe(self) -> str:
        """Short human-readable label for plots."""
        return f"{self.code}, {self.modulation}, {self.channel}, {self.estimator}+{self.equalizer}"
