"""Ideal link (capacity abstraction), SNR conversions, the `semlink ber` command and --help."""

import csv
import math
import subprocess
import sys

import numpy as np
import pytest

from semlink.cli import build_parser, main
from semlink.phy import IdealLink
from semlink.phy.ideal import capacity_awgn, max_bpp, required_snr_db
from semlink.phy.snr import ebno_db_to_esno_db, esno_db_to_ebno_db, esno_db_to_no


def test_capacity_and_seb_paper_equations():
    assert capacity_awgn(0.0) == pytest.approx(1.0)
    assert capacity_awgn(10 * math.log10(3)) == pytest.approx(2.0)
    # eq. (11): C = bpp / (3 CBR); at CBR = 1/30 and SNR = 10 dB, bpp_max = 0.1 log2(11)
    assert max_bpp(10.0, 1 / 30) == pytest.approx(0.1 * math.log2(11))
    assert required_snr_db(max_bpp(7.0, 1 / 30), 1 / 30) == pytest.approx(7.0)


def test_ideal_link_delivers_iff_rate_fits():
    link = IdealLink(cbr=1 / 30)
    n_src = 512 * 512 * 3
    uses = link.channel_uses(n_src)
    cap = capacity_awgn(5.0)
    fits = bytes(int(uses * cap) // 8)
    too_big = bytes(int(uses * cap) // 8 + 2)
    rng = np.random.default_rng(0)
    assert link.transmit(fits, 5.0, rng, n_src).delivered
    r = link.transmit(too_big, 5.0, rng, n_src)
    assert not r.delivered and r.payload == bytes(len(too_big))
    with pytest.raises(ValueError, match="cbr"):
        IdealLink(cbr=-1)


def test_snr_conversions():
    assert esno_db_to_no(10.0) == pytest.approx(0.1)
    # 16-QAM rate 3/4: 3 information bits per symbol
    assert ebno_db_to_esno_db(5.0, 4, 0.75) == pytest.approx(5.0 + 10 * math.log10(3))
    assert esno_db_to_ebno_db(ebno_db_to_esno_db(2.0, 2, 0.5), 2, 0.5) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="code_rate"):
        ebno_db_to_esno_db(0.0, 2, 1.5)


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert {"sweep", "plot", "ber", "codec", "data"} <= set(sub.choices)
    for name, p in sub.choices.items():
        text = p.format_help()
        assert "usage: semlink " + name in text


def test_console_script_help_runs():
    out = subprocess.run([sys.executable, "-m", "semlink.cli", "ber", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--estimator" in out.stdout and "(default: ls)" in out.stdout


def test_ber_command_uncoded_awgn_matches_theory(tmp_path):
    out = tmp_path / "ber.csv"
    rc = main(["ber", "--channel", "awgn", "--code", "none", "--modulation", "qpsk", "--estimator", "perfect",
               "--snr-db", "0,6", "--max-bits", "3e5", "--quiet", "--out", str(out)])
    assert rc == 0
    rows = list(csv.DictReader(open(out)))
    assert [float(r["snr_db"]) for r in rows] == [0.0, 6.0]
    for col in ("snr_db", "ber", "bler", "raw_ber", "bits", "errors", "blocks", "block_errors", "channel", "modulation", "code"):
        assert col in rows[0]
    from semlink.phy.theory import ber_awgn

    for r in rows:
        n, e, p = int(r["bits"]), int(r["errors"]), float(ber_awgn("qpsk", float(r["snr_db"])))
        assert abs(e - n * p) < 4 * math.sqrt(n * p), (e, n * p)
    assert out.with_suffix(".png").stat().st_size > 0


def test_ber_command_rejects_bad_snr(tmp_path, capsys):
    assert main(["ber", "--snr-db", "10:0:1", "--out", str(tmp_path / "x.csv")]) == 2
    assert "snr-db" in capsys.readouterr().err
