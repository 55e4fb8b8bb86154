"""The one registry style (semlink.registry) and the error classes (semlink.errors)."""

import sys
import types

import pytest

from semlink.errors import ConfigError, UnknownNameError
from semlink.registry import Registry


def test_register_get_duplicates_and_unknown_names():
    r = Registry("widget")

    @r.register("a")
    class A:
        pass

    assert r.get("a") is A and "a" in r and r.names() == ["a"]
    r.register("a", A)  # the same object again: harmless
    with pytest.raises(ConfigError, match="already registered"):
        r.register("a", object())
    r.register("a", 3, replace=True)
    assert r.get("a") == 3
    with pytest.raises(UnknownNameError, match=r"unknown widget 'b'; known: a"):
        r.get("b")
    with pytest.raises(ValueError):  # a ConfigError is a ValueError
        r.get("b")


def test_builtins_are_imported_lazily(monkeypatch):
    r = Registry("widget", builtins={"lazy": "semlink_test_lazy_widget"})
    mod = types.ModuleType("semlink_test_lazy_widget")
    imported = []

    def fake_import(name):
        imported.append(name)
        r.register("lazy", "the lazy one")
        return mod

    monkeypatch.setattr("semlink.registry.importlib.import_module", fake_import)
    assert r.names() == ["lazy"] and imported == []  # listed without importing
    assert r.get("lazy") == "the lazy one" and imported == ["semlink_test_lazy_widget"]
    assert r.get("lazy") == "the lazy one" and len(imported) == 1


def test_entry_point_plugins(monkeypatch):
    class EP:
        name = "ext"

        def load(self):
            return "from a package"

    monkeypatch.setattr("semlink.registry.metadata.entry_points", lambda group: [EP()] if group == "g" else [])
    r = Registry("widget", group="g")
    assert "ext" in r and r.names() == ["ext"]
    assert r.get("ext") == "from a package"
    assert "ext" not in Registry("widget", group="other")
    assert sys.modules  # (no module was imported for the entry point besides its own load())


def test_channel_code_strings_are_parsed_in_one_place():
    from semlink.phy.budget import code_dims
    from semlink.phy.codes import CODE_FAMILIES, CodeSpec, UncodedCode, available_codes, parse_code
    from semlink.phy.config import LinkConfig

    c = parse_code("80211n-648-3/4")
    assert (c.family, c.n, c.k, c.code_rate) == ("80211n", 648, 486, 0.75)
    assert parse_code("80211n-648-1/2").k == 324 and parse_code("none").k == 648
    assert set(available_codes()) == {"80211n-648-3/4", "80211n-648-1/2", "none"}
    for bad in ("80211n-648-5/6", "turbo-648-1/2", "80211n-x-1/2", "648-3/4"):
        with pytest.raises(ConfigError, match="known: 80211n-648"):
            parse_code(bad)
    with pytest.raises(ValueError, match="code="):
        LinkConfig(code="80211n-1944-1/2")
    assert code_dims(LinkConfig(code="80211n-648-1/2")) == (324, 648)
    # a plug-in family: a repetition-like identity code of its own block length
    CODE_FAMILIES.register("testrep", lambda spec, decoder, num_iter: UncodedCode(spec.n), replace=True)
    assert isinstance(CodeSpec("testrep-96-1", "testrep", 96, "1").build(), UncodedCode)


def test_one_never_raise_policy_on_the_codec_base():
    import numpy as np

    from semlink.codecs import Codec, DecodeError, Encoded, Reconstruction, strict_decoding
    from semlink.errors import StreamError

    class Flaky(Codec):
        name = "flaky"
        behaviour = "ok"

        def encode(self, item, **rate):
            return Encoded("flaky", "image", item.shape, {"x": b"\x01"})

        def decode(self, received):
            b = self.behaviour
            if b == "bug":
                raise IndexError("off by one")
            if b == "stream":
                raise StreamError("header CRC failed")
            if b == "config":
                raise ConfigError("checkpoint missing")
            if b == "shape":
                return Reconstruction(np.zeros((2, 2, 3), np.uint8), True)
            return Reconstruction(np.full(received.shape, 7, np.uint8), True)

    c, x = Flaky(), np.zeros((4, 4, 3), np.uint8)
    enc = c.encode(x)
    assert c.decode(enc).decoded_ok
    with strict_decoding(False):
        for b, why in (("bug", "decode failed: IndexError: off by one"), ("stream", "stream unusable: header CRC failed"),
                       ("shape", "decode failed: ValueError: decoder returned uint8 (2, 2, 3)")):
            c.behaviour = b
            rec = c.decode(enc)
            assert not rec.decoded_ok and rec.reason.startswith(why) and rec.data.shape == x.shape
            assert (rec.data == 128).all() and rec.recovered == 0.0
    with strict_decoding(True):
        c.behaviour = "bug"
        with pytest.raises(DecodeError, match="flaky: IndexError"):
            c.decode(enc)
        c.behaviour = "stream"  # a malformed stream is an outcome of the channel, even in strict mode
        assert not c.decode(enc).decoded_ok
    c.behaviour = "config"  # a missing checkpoint is not
    with pytest.raises(ConfigError, match="checkpoint missing"):
        c.decode(enc)
