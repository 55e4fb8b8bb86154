"""What the transmitter knows of the channel when it encodes: :class:`ChannelState`.

A link (:mod:`semlink.phy.transport`) describes itself to channel-adaptive codecs with one; the
sweep caches such encodings per state.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChannelState:
    """What the transmitter knows of the channel when it encodes (channel-adaptive codecs).

    Attributes:
        snr_db: Es/N0 per resource element [dB] (the link's nominal SNR).
        mode: ``"phy"`` (explicit digital link) or ``"ideal"`` (capacity-achieving).
        channel: channel model name (``"tdl-c"``, ``"awgn"``, ``"rayleigh"``, ...).
        modulation: ``"qpsk"`` / ``"16qam"`` / ``"64qam"`` (None in ideal mode).
        code_rate: channel code rate (None in ideal mode; 1.0 uncoded).
        bits_per_symbol: coded bits per channel symbol (None in ideal mode).
        cbr: channel uses per source symbol when the link fixes a budget, else None.
        channel_uses: channel uses granted to this item when the link fixes a budget, else None.
    """

    snr_db: float
    mode: str = "phy"
    channel: str = "awgn"
    modulation: str | None = None
    code_rate: float | None = None
    bits_per_symbol: int | None = None
    cbr: float | None = None
    channel_uses: int | None = None

    def __post_init__(self):
        if not isinstance(self.snr_db, (int, float)) or not math.isfinite(self.snr_db):
            raise ValueError(f"ChannelState.snr_db must be a finite number of dB, got {self.snr_db!r}")
        if self.mode not in ("phy", "ideal"):
            raise ValueError(f"ChannelState.mode={self.mode!r}; choose 'phy' or 'ideal'")
        object.__setattr__(self, "snr_db", float(self.snr_db))

    @property
    def snr_linear(self) -> float:
        return 10.0 ** (self.snr_db / 10.0)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
