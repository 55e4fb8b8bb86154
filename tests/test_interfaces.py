"""Codec interfaces of the seed systems: Received (packets, LLRs), set codecs, channel-adaptive
encoders, unequal error protection, plug-ins, validation before anything runs."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from semlink.codecs import ChannelState, Encoded, Received, ReceivedPart, get_codec
from semlink.phy import Link, LinkConfig
from semlink.phy import packets as pk
from semlink.phy.ideal import capacity_awgn
from semlink.plugins import load_plugins
from semlink.sweep import parse_spec, run_sweep

TOYS = str(Path(__file__).with_name("toy_codecs.py"))
SMALL = {"size": 64, "crop": 64}


def toys():
    (name,) = load_plugins([TOYS])
    return sys.modules[name]


def _spec(tmp_path, **over):
    raw = {
        "name": "t", "seed": 1, "trials": 1, "snr_db": [30.0], "plugins": [TOYS],
        "dataset": {"name": "photos", "max_items": 4, "options": SMALL},
        "codec": [{"name": "toy-set", "quality": 1}],
        "link": {"mode": "phy", "channel": "awgn", "modulation": "qpsk", "estimator": "perfect"},
        "metrics": ["psnr"], "out": str(tmp_path / "out"),
    }
    raw.update(over)
    return parse_spec(raw)


# ------------------------------------------------------------------------------ Received
def test_received_part_views():
    p = ReceivedPart(b"abcdefghij", [True, False, True], [0, 4, 8], [4, 4, 2])
    assert not p.ok and p.packets_lost == 1 and p.num_packets == 3
    assert p.byte_ok().tolist() == [True] * 4 + [False] * 4 + [True] * 2
    assert p.intact_prefix() == b"abcd" and p.lost_ranges() == [(4, 8)]
    assert ReceivedPart.intact(b"xyz").intact_prefix() == b"xyz"
    lost = ReceivedPart.lost(3, with_llr=True)
    assert lost.data == bytes(3) and not lost.ok and lost.llr.shape == (24,) and not lost.llr.any()
    with pytest.raises(ValueError, match="cover 9 bytes"):
        ReceivedPart(b"abcdefghij", [True], [0], [9])
    with pytest.raises(ValueError, match="llr has 3 values"):
        ReceivedPart(b"a", [True], [0], [1], llr=np.zeros(3))


def test_decode_takes_received_or_encoded(photo):
    codec = get_codec("jpeg")
    enc = codec.encode(photo, quality=50)
    a, b = codec.decode(enc), codec.decode(enc.received())
    assert np.array_equal(a.data, b.data) and a.decoded_ok
    assert isinstance(enc.received(), Received) and enc.received().ok


def test_link_returns_packet_layout_and_payload_llrs():
    link = Link(LinkConfig(channel="awgn", modulation="16qam", estimator="perfect"))
    payload = bytes(np.random.default_rng(0).integers(0, 256, 700, dtype=np.uint8))
    bits = np.unpackbits(np.frombuffer(payload, np.uint8))
    hi = link.transmit(payload, 30.0, np.random.default_rng(1), return_llr=True)
    assert hi.all_ok and hi.llr.dtype == np.float32 and hi.llr.shape == (8 * len(payload),)
    assert np.array_equal(hi.llr > 0, bits.astype(bool))  # LLR = log P(1)/P(0), payload bit order
    lay = pk.layout(len(payload), link.code.k, 4)
    assert hi.packet_starts.tolist() == lay.starts.tolist() and hi.packet_lengths.tolist() == lay.lengths.tolist()
    lo = link.transmit(payload, 4.0, np.random.default_rng(1), return_llr=True)
    agree = np.mean((lo.llr > 0) == bits.astype(bool))
    assert 0.6 < agree < 0.999  # noisy but informative channel LLRs
    # LLR magnitude predicts reliability: confident bits are more often right
    conf = np.abs(lo.llr) > np.median(np.abs(lo.llr))
    assert np.mean(((lo.llr > 0) == bits.astype(bool))[conf]) > np.mean(((lo.llr > 0) == bits.astype(bool))[~conf])
    assert link.transmit(payload, 30.0, np.random.default_rng(1)).llr is None


def test_link_leaves_sionna_and_torch_global_generators_alone():
    import torch
    from sionna.phy import config

    link = Link(LinkConfig(channel="tdl-c"))
    config.seed = 1234
    before = torch.get_rng_state().clone()
    np_state = config.np_rng.bit_generator.state
    a = link.transmit(bytes(300), 5.0, np.random.default_rng(7))
    assert config.seed == 1234 and torch.equal(torch.get_rng_state(), before)
    assert config.np_rng.bit_generator.state == np_state
    b = link.transmit(bytes(300), 5.0, np.random.default_rng(7))
    assert a.payload == b.payload and a.raw_bit_errors == b.raw_bit_errors  # the row's generator decides


# ------------------------------------------------------------------------------ set codecs
def test_set_codec_sends_shared_part_once_and_apportions_it(tmp_path):
    spec = _spec(tmp_path, dataset={"name": "photos", "max_items": 4, "set_size": 2, "options": SMALL},
                 codec=[{"name": "toy-set", "quality": 1}, {"name": "jpeg", "quality": 50}])
    rows = run_sweep(spec, tmp_path / "o", progress=False)
    sets = [r for r in rows if r["codec"] == "toy-set"]
    per_image = [r for r in rows if r["codec"] == "jpeg"]
    assert len(sets) == 4 and len(per_image) == 4
    assert [r["set"] for r in sets] == ["set000", "set000", "set001", "set001"]
    assert {r["set"] for r in per_image} == {"set000", "set001"}  # baselines on the same sets, one table
    shared_bytes = 8 * 8 * 3  # 64/8 x 64/8 x 3 mean image
    from semlink.data import get_dataset
    from semlink.simulator.metrics import psnr

    ims = [(it.name, it.data) for it in get_dataset("photos", max_items=4, **SMALL)]
    codec = get_codec("toy-set")
    clean = {}
    for pair in (ims[:2], ims[2:]):
        recs = codec.decode_set(codec.encode_set([x for _, x in pair]))  # no channel: EncodedSet accepted
        clean.update({n: psnr(x, rec.data) for (n, x), rec in zip(pair, recs)})
    link = Link(spec.links[0].config)
    one_tx = link.transmit(bytes(shared_bytes), 30.0, np.random.default_rng(0)).data_symbols
    for r in sets:
        assert r["set_size"] == 2 and r["shared_bits"] == 8 * shared_bytes / 2
        assert r["own_bits"] == 8 * shared_bytes and r["bits"] == r["own_bits"] + r["shared_bits"]
        assert r["bits_by_part"]["mean"] == 8 * shared_bytes / 2
        assert r["decoded_ok"] and r["psnr"] == pytest.approx(clean[r["item"]])
    for s in ("set000", "set001"):  # the shared part's channel uses, summed over the set, are one transmission
        assert sum(r["symbols_by_part"]["mean"] for r in sets if r["set"] == s) == pytest.approx(one_tx)
    assert all(r["shared_bits"] == 0 for r in per_image)


def test_set_rows_resume_and_do_not_depend_on_workers(tmp_path):
    spec = _spec(tmp_path, snr_db=[3.0, 30.0], trials=2,
                 dataset={"name": "photos", "max_items": 4, "set_size": 2, "options": SMALL})
    one = run_sweep(spec, tmp_path / "w1", progress=False)
    two = run_sweep(spec, tmp_path / "w2", workers=2, progress=False)
    stable = lambda rows: [{k: v for k, v in r.items() if not k.endswith("_s")} for r in rows]  # noqa: E731
    assert stable(one) == stable(two)
    assert any(r["packets_lost"] for r in one) and any(not r["packets_lost"] for r in one)

    class Stop(Exception):
        pass

    n = []

    def interrupt(row):
        n.append(row)
        if len(n) == 3:  # in the middle of the second set
            raise Stop

    with pytest.raises(Stop):
        run_sweep(spec, tmp_path / "r", progress=False, on_row=interrupt)
    resumed = run_sweep(spec, tmp_path / "r", progress=False)
    assert stable(resumed) == stable(one) and len({r["key"] for r in resumed}) == len(resumed)


def test_ideal_mode_counts_the_whole_set_against_capacity(tmp_path):
    """Under the pooled rule (budget = "set") a set codec's bits are checked against the set's
    channel uses; under the default per-image rule each image's share (tests/test_sweep.py::test_one_budget_rule_for_every_codec_of_a_spec)."""
    spec = _spec(tmp_path, snr_db=[-10.0, 0.0, 10.0, 30.0], dataset={"name": "photos", "max_items": 2, "set_size": 2,
                 "options": SMALL}, link={"mode": "ideal", "cbr": 0.05, "budget": "set"})
    rows = run_sweep(spec, tmp_path / "o", progress=False)
    total_bits = 8 * (8 * 8 * 3) * 3  # shared once + two residuals
    uses = math.floor(0.05 * 2 * 64 * 64 * 3)
    for r in rows:
        assert r["outage"] == (total_bits > uses * capacity_awgn(r["snr_db"]))
        assert r["decoded_ok"] == (not r["outage"])
        assert r["cbr"] == pytest.approx(uses / 2 / (64 * 64 * 3))  # channel uses apportioned
    assert any(r["outage"] for r in rows) and not all(r["outage"] for r in rows)


def test_set_codec_needs_sets_and_folder_sets_are_subfolders(tmp_path):
    with pytest.raises(ValueError, match="codes image sets"):
        _spec(tmp_path, dataset={"name": "photos", "max_items": 2, "options": SMALL})
    from PIL import Image

    rng = np.random.default_rng(0)
    for sub, names in (("city", ["a", "b", "c"]), ("forest", ["d", "e"])):
        (tmp_path / "imgs" / sub).mkdir(parents=True)
        for n in names:
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "imgs" / sub / f"{n}.png")
    spec = _spec(tmp_path, dataset={"name": "folder", "path": str(tmp_path / "imgs"), "sets": True})
    rows = run_sweep(spec, tmp_path / "o", progress=False)
    assert [(r["set"], r["set_size"]) for r in rows] == [("city", 3)] * 3 + [("forest", 2)] * 2
    assert [r["item"] for r in rows] == ["city/a", "city/b", "city/c", "forest/d", "forest/e"]


# ------------------------------------------------------------------------------ channel-adaptive
def test_channel_adaptive_codec_gets_state_and_is_cached_per_state(tmp_path):
    mod = toys()
    mod.ENCODE_CALLS.clear()
    spec = _spec(tmp_path, snr_db=[0.0, 10.0, 20.0], trials=2, codec=[{"name": "toy-adaptive", "quality": 1}],
                 dataset={"name": "photos", "max_items": 1, "options": SMALL},
                 link={"mode": "phy", "channel": "awgn", "modulation": ["qpsk", "16qam"], "estimator": "perfect"})
    rows = run_sweep(spec, tmp_path / "o", progress=False)
    assert len(rows) == 3 * 2 * 2
    assert mod.ENCODE_CALLS["toy-adaptive"] == 3 * 2  # one encoding per (SNR, link) state, shared by trials
    by_snr = {r["snr_db"]: r["bits"] for r in rows if r["modulation"] == "qpsk"}
    assert by_snr[0.0] < by_snr[10.0] < by_snr[20.0]
    r = rows[-1]
    assert r["channel_adaptive"] and r["channel_state"]["snr_db"] == r["snr_db"]
    assert r["channel_state"]["modulation"] == r["modulation"] and r["channel_state"]["code_rate"] == 0.75
    with pytest.raises(ValueError, match="finite"):
        ChannelState(float("nan"))


# ------------------------------------------------------------------------------ unequal protection
def _symbols(nbytes: int, code_rate: str, bps: int) -> int:
    k = 648 * (3 if code_rate == "3/4" else 2) // 4
    lay = pk.layout(nbytes, k, 4)
    return math.ceil(lay.num_codewords * 648 / bps)


def test_unequal_protection_counts_each_part_at_its_settings(tmp_path):
    spec = _spec(tmp_path, codec=[{"name": "toy-parts", "quality": 1}],
                 dataset={"name": "photos", "max_items": 1, "options": SMALL},
                 link={"mode": "phy", "channel": "awgn", "modulation": "16qam", "estimator": "perfect",
                       "protect": {"header": {"code": "80211n-648-1/2", "modulation": "qpsk"}}})
    (r,) = run_sweep(spec, tmp_path / "o", progress=False)
    body = 8 * 8 * 3
    want = {"header": _symbols(12, "1/2", 2), "body": _symbols(body, "3/4", 4)}
    assert r["symbols_by_part"] == want
    assert r["cbr"] == pytest.approx(sum(want.values()) / (64 * 64 * 3))
    assert r["protect"] == {"header": {"code": "80211n-648-1/2", "modulation": "qpsk"}}
    assert "header: qpsk 80211n-648-1/2" in r["link"]
    with pytest.raises(ValueError, match=r"unknown part\(s\) \['hdr'\].*toy-parts: header, body"):
        _spec(tmp_path, codec=[{"name": "toy-parts", "quality": 1}],
              link={"mode": "phy", "protect": {"hdr": {"code": "80211n-648-1/2"}}},
              dataset={"name": "photos", "max_items": 1, "options": SMALL})
    with pytest.raises(ValueError, match="link.protect.header: modulation='8psk'"):
        _spec(tmp_path, codec=[{"name": "toy-parts", "quality": 1}],
              link={"mode": "phy", "protect": {"header": {"modulation": "8psk"}}},
              dataset={"name": "photos", "max_items": 1, "options": SMALL})


# ------------------------------------------------------------------------------ LLRs to a codec
def test_codec_that_uses_llrs_gets_them(tmp_path):
    spec = _spec(tmp_path, snr_db=[2.0, 30.0], codec=[{"name": "toy-soft", "quality": 1}],
                 dataset={"name": "photos", "max_items": 2, "options": SMALL},
                 link={"mode": "phy", "channel": "awgn", "modulation": "16qam", "estimator": "perfect"})
    rows = run_sweep(spec, tmp_path / "o", progress=False)
    assert all("raised" not in r["reason"] for r in rows)  # it raises when the LLRs are missing
    hi = [r for r in rows if r["snr_db"] == 30.0]
    lo = [r for r in rows if r["snr_db"] == 2.0]
    assert all(r["decoded_ok"] for r in hi)
    assert all(r["packets_lost"] > 0 and "soft-decoded" in r["reason"] for r in lo)
    # at the ideal link the LLRs are +-inf (delivered) or 0 (lost)
    enc = get_codec("toy-soft").encode(np.zeros((64, 64, 3), np.uint8))
    rx = enc.received(with_llr=True)
    assert np.isinf(rx.part("pixels").llr).all()


# ------------------------------------------------------------------------------ ideal over fading
def test_ideal_rayleigh_outage_follows_the_instantaneous_capacity(tmp_path, photo):
    from semlink.phy.ideal import required_snr_db

    bits = get_codec("jpeg").encode(photo, quality=5).num_bits
    thr = required_snr_db(bits / (64 * 64), 0.1)  # mean SNR at which the smallest point fits
    spec = _spec(tmp_path, snr_db=[thr - 1.0, thr + 10.0], trials=24, codec=[{"name": "jpeg", "quality": [5, 50]}],
                 dataset={"name": "photos", "max_items": 1, "options": SMALL},
                 link={"mode": "ideal", "cbr": 0.1, "fading": "rayleigh"})
    rows = run_sweep(spec, tmp_path / "o", progress=False)
    for r in rows:
        assert r["outage"] == (r["bits"] > math.floor(0.1 * 64 * 64 * 3) * r["capacity"])
    # below the mean-SNR threshold, fades up can still deliver (no forced outage)
    below = [r for r in rows if not r["fits_capacity"]]
    assert below and any(not r["outage"] for r in below) and any(r["outage"] for r in below)


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("codec,dataset,match", [
    ({"name": "jpeg", "quality": 50}, {"name": "clips"}, r"codec 'jpeg' codes image items but dataset 'clips' holds video"),
    ({"name": "h265", "crf": 30}, {"name": "photos"}, "codes video items"),
    ({"name": "h265", "bpp": 0.1}, {"name": "clips"}, r"codec 'h265' takes no rate 'bpp'; it accepts crf, qp, bitrate, bcr"),
    ({"name": "jpeg", "bcr": 0.1}, {"name": "photos"}, r"takes no rate 'bcr'; it accepts bpp, quality"),
    ({"name": "jpeg", "quality": 50, "options": {"subsampling": "4:4:4", "colour": 1}}, {"name": "photos"},
     r"codec 'jpeg' has no option\(s\) \['colour'\]; its options: .*subsampling"),
])
def test_validation_names_codec_and_what_it_accepts(tmp_path, codec, dataset, match):
    with pytest.raises(ValueError, match=match):
        parse_spec({"snr_db": [0.0], "dataset": dataset, "codec": [codec], "link": {"mode": "phy"}})


def test_video_codec_without_rate_uses_its_crf_points():
    spec = parse_spec({"snr_db": [0.0], "dataset": {"name": "clips"}, "codec": [{"name": "h264"}], "link": {}})
    assert {c.rate_key for c in spec.codecs} == {"crf"} and len(spec.codecs) == len(get_codec("h264").rate_points())


def test_plugin_errors_name_the_plugin(tmp_path):
    with pytest.raises(ValueError, match="module 'nolab.codecs' not found"):
        load_plugins(["nolab.codecs"])
    with pytest.raises(ValueError, match="does not exist"):
        load_plugins([str(tmp_path / "missing.py")])
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ValueError, match="bad.py.*RuntimeError: boom"):
        load_plugins([str(bad)])


@pytest.fixture
def photo():
    from semlink.data import get_dataset

    return get_dataset("photos", size=64, crop=64, max_items=1)[0].data


def test_encoded_is_never_seen_by_decoder_info(photo):
    enc = get_codec("jpeg").encode(photo, quality=50)
    assert isinstance(enc, Encoded) and not hasattr(enc.received(), "info")
