"""Bits over an explicit digital PHY built on Sionna 2.x blocks (PyTorch).

Public API::

    from semlink.phy import Link, LinkConfig, OFDMGrid, IdealLink, list_channels
    res = Link(LinkConfig(channel="tdl-c", modulation="16qam")).transmit(payload, snr_db=12.0, rng=rng)
    res.payload, res.packet_ok, res.raw_ber, res.ber, res.bler

SNR convention: Es/N0 per resource element in dB (:mod:`semlink.phy.snr`).
LLR convention: log P(1)/P(0) (:mod:`semlink.phy.ldpc`).
"""

from semlink.phy.channels import list_channels, make_channel, register_channel
from semlink.phy.config import LinkConfig, OFDMGrid
from semlink.phy.ideal import IdealLink, IdealResult, capacity_awgn
from semlink.phy.link import Link, LinkResult

__all__ = [
    "IdealLink", "IdealResult", "Link", "LinkConfig", "LinkResult", "OFDMGrid",
    "capacity_awgn", "list_channels", "make_channel", "register_channel",
]
