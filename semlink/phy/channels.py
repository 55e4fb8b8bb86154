"""Channel models by name: a registry of small classes, each wrapping a Sionna channel model.

Every channel produces a Sionna channel impulse response ``(a, tau)`` through
:meth:`Channel.model`, so the same link code applies it in the frequency domain
(Sionna ``OFDMChannel``: one complex gain per subcarrier and OFDM symbol, no inter-symbol
interference) or in the time domain (Sionna ``TimeChannel`` with OFDM modulator/demodulator
and cyclic prefix, so delay spreads longer than the CP produce ISI).

Registered channels (parameters, defaults):

* ``awgn``: no fading, ``h = 1``. No parameters.
* ``rayleigh``: flat Rayleigh block fading, one CN(0, 1) coefficient per OFDM slot
  (Sionna ``RayleighBlockFading``). No parameters.
* ``tdl-a`` ... ``tdl-e``: 3GPP TR 38.901 tapped-delay-line profiles (Sionna ``TDL``).
  Parameters: ``delay_spread`` [s] (default 100e-9, the TR 38.901 "nominal" value),
  ``speed`` [m/s] of the terminal (default 0.0; max Doppler = speed * fc / c),
  ``carrier_frequency`` [Hz] (default 5.25e9, 802.11 5 GHz band). TDL-D and TDL-E have a
  line-of-sight tap (Rician).

Adding a channel: subclass :class:`Channel`, decorate with ``@register_channel("name")``,
declare its ``params`` defaults; nothing else in the link changes.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, ClassVar

import torch

from semlink.registry import Registry

from semlink.errors import ConfigError

def _set_name(name: str, cls: Any) -> None:
    cls.name = name


#: name -> :class:`Channel` subclass (plug-in packages: entry-point group ``semlink.channels``)
CHANNELS: Registry[type["Channel"]] = Registry("channel", group="semlink.channels", on_register=_set_name)


def register_channel(name: str) -> Callable[[type["Channel"]], type["Channel"]]:
    """Class decorator: make a :class:`Channel` subclass available under ``name``."""
    return CHANNELS.register(name)


def list_channels() -> list[str]:
    """Names of the channels."""
    return CHANNELS.names()


def make_channel(name: str, params: dict[str, Any] | None = None) -> "Channel":
    """Instantiate a registered channel, validating its parameters.

    Raises:
        ValueError: unknown channel name (listing the registered ones) or unknown/invalid parameter.
    """
    return CHANNELS.get(name)(**(params or {}))


class TimeInvariantModel:
    """Sample a Sionna channel model once per slot and hold it for every time step.

    For a channel whose taps cannot change within a slot (a TDL profile at speed 0: every
    Doppler shift of the sum-of-sinusoids model is zero), Sionna's model evaluated at one time
    step and broadcast over ``num_time_steps`` gives exactly the coefficients it would compute
    at every step (the random draws do not depend on the number of steps), at a fraction of the
    cost; this matters most in the time domain, where a slot has ~1000 samples.
    """

    def __init__(self, model):
        self.model = model

    def __call__(self, batch_size: int, num_time_steps: int, sampling_frequency: float | None = None):
        a, tau = self.model(batch_size, 1, sampling_frequency)
        return a.expand(*a.shape[:-1], num_time_steps), tau


class _UnitChannelModel:
    """A single tap with gain 1 and delay 0 (the AWGN channel), in Sionna's CIR format."""

    def __init__(self, device: str, dtype=torch.complex64):
        self.device = device
        self.dtype = dtype

    def __call__(self, batch_size: int, num_time_steps: int, sampling_frequency: float | None = None):
        a = torch.ones(batch_size, 1, 1, 1, 1, 1, num_time_steps, dtype=self.dtype, device=self.device)
        tau = torch.zeros(batch_size, 1, 1, 1, dtype=torch.float32, device=self.device)
        return a, tau


class Channel(abc.ABC):
    """Base class. Subclasses set ``params`` (name -> default) and implement :meth:`model`.

    ``max_delay`` is the largest tap delay [s] (used to size the time-domain channel filter).
    """

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}
    flat: ClassVar[bool] = False

    def __init__(self, **kwargs: Any):
        unknown = set(kwargs) - set(self.params)
        if unknown:
            allowed = ", ".join(sorted(self.params)) or "none"
            raise ConfigError(f"channel {self.name!r}: unknown parameter(s) {sorted(unknown)}; allowed: {allowed}")
        self.values = {**self.params, **kwargs}
        self._validate()

    def _validate(self) -> None:
        pass

    @abc.abstractmethod
    def model(self, device: str):
        """The Sionna channel model (callable ``(batch, num_time_steps, fs) -> (a, tau)``)."""

    @property
    def max_delay(self) -> float:
        return 0.0

    def describe(self) -> str:
        extra = ", ".join(f"{k}={v:g}" for k, v in self.values.items())
        return f"{self.name}({extra})" if extra else self.name


@register_channel("awgn")
class AWGN(Channel):
    """Additive white Gaussian noise only (h = 1 on every resource element)."""

    flat = True

    def model(self, device: str):
        return _UnitChannelModel(device)


@register_channel("rayleigh")
class RayleighFlat(Channel):
    """Flat Rayleigh block fading: one CN(0,1) coefficient per OFDM slot (Sionna RayleighBlockFading)."""

    flat = True

    def model(self, device: str):
        from sionna.phy.channel import RayleighBlockFading

        return RayleighBlockFading(num_rx=1, num_rx_ant=1, num_tx=1, num_tx_ant=1, device=device)


class _TDL(Channel):
    """3GPP TR 38.901 TDL profile via Sionna's ``TDL`` (sum-of-sinusoids fading)."""

    profile: ClassVar[str] = ""
    # Normalised delay of the last tap of each profile (TR 38.901 Tables 7.7.2-1..5).
    max_normalized_delay: ClassVar[float] = 0.0
    params = {"delay_spread": 100e-9, "speed": 0.0, "carrier_frequency": 5.25e9}

    def _validate(self) -> None:
        v = self.values
        if not v["delay_spread"] > 0:
            raise ConfigError(f"channel {self.name!r}: delay_spread must be > 0 seconds, got {v['delay_spread']!r}")
        if v["speed"] < 0:
            raise ConfigError(f"channel {self.name!r}: speed must be >= 0 m/s, got {v['speed']!r}")
        if not v["carrier_frequency"] > 0:
            raise ConfigError(f"channel {self.name!r}: carrier_frequency must be > 0 Hz, got {v['carrier_frequency']!r}")

    def model(self, device: str):
        from sionna.phy.channel.tr38901 import TDL

        v = self.values
        model = TDL(
            model=self.profile,
            delay_spread=float(v["delay_spread"]),
            carrier_frequency=float(v["carrier_frequency"]),
            min_speed=float(v["speed"]),
            max_speed=float(v["speed"]),
            device=device,
        )
        return TimeInvariantModel(model) if float(v["speed"]) == 0.0 else model

    @property
    def max_delay(self) -> float:
        return self.max_normalized_delay * float(self.values["delay_spread"])


def _make_tdl(profile: str, max_norm_delay: float) -> type[_TDL]:
    cls = type(f"TDL{profile}", (_TDL,), {"profile": profile, "max_normalized_delay": max_norm_delay,
                                          "__doc__": f"3GPP TR 38.901 TDL-{profile} (Sionna TDL model {profile!r})."})
    return register_channel(f"tdl-{profile.lower()}")(cls)


for _p, _d in {"A": 9.6586, "B": 4.7834, "C": 8.6523, "D": 12.525, "E": 20.6519}.items():
    _make_tdl(_p, _d)
