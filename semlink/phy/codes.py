"""Channel codes named by a string, parsed in one place.

A code string is ``FAMILY-N-RATE`` or ``"none"``:

* ``"80211n-648-3/4"``, ``"80211n-648-1/2"`` — IEEE 802.11n LDPC, n = 648 coded bits per
  codeword, rate 3/4 (k = 486) or 1/2 (k = 324) (:class:`semlink.phy.ldpc.LDPCCode`; the parity
  check matrices ship in ``semlink/phy/tables``);
* ``"none"`` — uncoded: blocks of 648 bits, hard decisions (:class:`UncodedCode`).

:data:`CODE_FAMILIES` is a :class:`semlink.registry.Registry` of family name -> builder
``build(spec: CodeSpec, decoder: str, num_iter: int) -> code``, so a plug-in may add a family
(entry-point group ``semlink.channel_codes``). A code object has ``n``, ``k``, ``code_rate``,
``encode(bits [.., k]) -> [.., n]`` and ``decode(llr [.., n]) -> bits [.., k]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from semlink.errors import ConfigError
from semlink.registry import Registry

UNCODED_N = 648


@dataclass(frozen=True)
class CodeSpec:
    """A parsed code string.

    Attributes:
        text: the string as given (``"80211n-648-3/4"``).
        family: ``"80211n"`` or ``"none"``.
        n: coded bits per codeword.
        rate: ``"3/4"`` style (``"1"`` for uncoded).
    """

    text: str
    family: str
    n: int
    rate: str

    @property
    def k(self) -> int:
        """Information bits per codeword."""
        r = Fraction(self.rate)
        return self.n * r.numerator // r.denominator

    @property
    def code_rate(self) -> float:
        return float(Fraction(self.rate))

    def build(self, decoder: str = "fast", num_iter: int = 20):
        """The code object (``LDPCCode`` or ``UncodedCode``)."""
        return CODE_FAMILIES.get(self.family)(self, decoder, num_iter)


class UncodedCode:
    """Identity "code" for ``code="none"``: blocks of ``n`` bits, hard decisions on the LLRs."""

    def __init__(self, n: int = UNCODED_N):
        self.n = self.k = n
        self.code_rate = 1.0

    def encode(self, bits: np.ndarray) -> np.ndarray:
        return np.asarray(bits, dtype=np.uint8)

    def decode(self, llr: np.ndarray) -> np.ndarray:
        return (np.asarray(llr) > 0).astype(np.uint8)


def _build_80211n(spec: CodeSpec, decoder: str, num_iter: int):
    from semlink.phy.ldpc import LDPCCode

    return LDPCCode(n=spec.n, rate=spec.rate, decoder=decoder, num_iter=num_iter)


def _build_uncoded(spec: CodeSpec, decoder: str, num_iter: int):
    return UncodedCode(spec.n)


CODE_FAMILIES: Registry[Callable[[CodeSpec, str, int], Any]] = Registry("channel code family",
                                                                        group="semlink.channel_codes")
CODE_FAMILIES.register("80211n", _build_80211n)
CODE_FAMILIES.register("none", _build_uncoded)


def parse_code(text: str) -> CodeSpec:
    """``"80211n-648-3/4"`` -> CodeSpec; ConfigError naming the string and the known codes."""
    if text == "none":
        return CodeSpec("none", "none", UNCODED_N, "1")
    parts = str(text).split("-")
    if len(parts) != 3 or parts[0] not in CODE_FAMILIES:
        raise ConfigError(f"code={text!r} is not a channel code (FAMILY-N-RATE)", allowed=available_codes())
    family, n, rate = parts
    try:
        n_int = int(n)
        Fraction(rate)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"code={text!r}: N must be an integer and RATE a fraction", allowed=available_codes()) from None
    if family == "80211n":
        from semlink.phy.ldpc_tables import SHIPPED

        if (n_int, rate) not in SHIPPED:
            raise ConfigError(f"code={text!r} is not provided", allowed=available_codes())
    return CodeSpec(text, family, n_int, rate)


def code_name(family: str, n: int, rate: str) -> str:
    """The code string of (family, n, rate): ``code_name("80211n", 648, "3/4") == "80211n-648-3/4"``."""
    return f"{family}-{n}-{rate}"


def available_codes() -> list[str]:
    """Every code string the shipped tables support, and ``"none"``."""
    from semlink.phy.ldpc_tables import SHIPPED

    return [code_name("80211n", n, r) for n, r in SHIPPED] + ["none"]
