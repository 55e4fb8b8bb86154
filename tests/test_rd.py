"""semlink.rd: rate-distortion points, Bjontegaard deltas and the ``semlink rd`` command."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from semlink.rd import bd_rate_table, mean_curve, rd_points


def _rows(codec, bpp, psnr, item="a"):
    return [{"item": item, "codec": codec, "param": "bpp", "value": b, "bpp": b, "psnr_db": q, "ms_ssim": 1 - 10 ** (-q / 20)}
            for b, q in zip(bpp, psnr)]


def test_bd_rate_of_a_scaled_curve():
    """A codec needing 20 % fewer bits at every quality has a BD-rate of -20 %."""
    bpp = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    psnr = 25 + 3 * np.log2(bpp / 0.1)
    rows = _rows("anchor", bpp, psnr) + _rows("better", 0.8 * bpp, psnr) + _rows("same", bpp, psnr)
    table = {(r["codec"], r["metric"]): r for r in bd_rate_table(rows, "anchor")}
    assert table[("better", "psnr_db")]["bd_rate_mean_curve_pct"] == pytest.approx(-20.0, abs=0.01)
    assert table[("same", "psnr_db")]["bd_rate_mean_curve_pct"] == pytest.approx(0.0, abs=1e-6)
    assert table[("better", "psnr_db")]["overlap"] == pytest.approx(1.0)
    # disjoint quality ranges: no number rather than an extrapolated one
    rows += _rows("far", bpp, psnr + 50)
    far = [r for r in bd_rate_table(rows, "anchor") if r["codec"] == "far"][0]
    assert math.isnan(far["bd_rate_mean_curve_pct"]) and far["overlap"] == 0
    with pytest.raises(ValueError, match="anchor"):
        bd_rate_table(rows, "nope")


def test_rd_points_and_mean_curves_on_real_codecs():
    rows = rd_points("photos", {"jpeg2000": [("bpp", b) for b in (0.15, 0.3, 0.6, 1.0)],
                                "jpeg": [("quality", q) for q in (20, 40, 60, 85)]}, size=128, max_items=2, progress=False)
    assert len(rows) == 2 * 8
    for r in rows:
        assert r["bits"] > 0 and r["bpp"] == r["bits"] / (r["height"] * r["width"]) and r["decoded_ok"]
    r, q = mean_curve(rows, "jpeg2000")
    assert np.all(np.diff(r) > 0) and np.all(np.diff(q) > 0)  # more bits, more PSNR
    bd = {x["codec"]: x for x in bd_rate_table(rows, "jpeg2000") if x["metric"] == "psnr_db"}
    assert bd["jpeg"]["bd_rate_mean_curve_pct"] > 0  # JPEG needs more bits than JPEG2000
    every = rd_points("photos", {"webp": "all"}, size=64, max_items=1, progress=False)
    from semlink.codecs import get_codec

    assert [r["value"] for r in every] == list(get_codec("webp").rate_points())
    with pytest.raises(ValueError, match="empty list"):
        rd_points("photos", {"jpeg": []}, size=64, max_items=1, progress=False)


def test_rd_cli_writes_tables_and_plots(tmp_path):
    from semlink.cli import main

    out = tmp_path / "rd"
    assert main(["rd", "--dataset", "photos", "--size", "96", "--max-items", "1", "--no-progress", "--out", str(out),
                 "--codecs", "jpeg2000=bpp:0.2:0.4:0.8:1.2,webp=bpp:0.2:0.4:0.8:1.2", "--anchor", "jpeg2000"]) == 0
    for name in ("rd.csv", "rd_mean.csv", "bd_rate.csv", "rd_psnr.png", "rd_msssim.pdf"):
        assert (out / name).stat().st_size > 0
    with open(out / "bd_rate.csv") as f:
        bd = list(csv.DictReader(f))
    assert {b["metric"] for b in bd} == {"psnr_db", "ms_ssim_db"} and all(b["codec"] == "webp" for b in bd)
    assert main(["rd", "--out", str(out), "--codecs", "jpeg", "--anchor", "jpeg2000"]) == 2  # anchor not swept


def test_rd_cli_perceptual_column_bd_and_plot(tmp_path):
    """--perceptual adds the distance (named), its BD-rate (quality = -distance) and a plot."""
    from semlink.cli import main
    from semlink.simulator.metrics import perceptual_metric

    out = tmp_path / "rdp"
    assert main(["rd", "--dataset", "photos", "--size", "96", "--max-items", "1", "--no-progress", "--out", str(out),
                 "--codecs", "jpeg2000=bpp:0.2:0.4:0.8:1.2,webp=bpp:0.2:0.4:0.8:1.2", "--anchor", "jpeg2000",
                 "--perceptual", "st_lpips"]) == 0
    rows = list(csv.DictReader(open(out / "rd.csv")))
    assert {r["perceptual_metric"] for r in rows} == {"st_lpips"}
    pm = perceptual_metric("st_lpips")
    from semlink.codecs import get_codec
    from semlink.data import get_dataset

    x = get_dataset("photos", size=96, max_items=1).items[0].data
    c = get_codec("jpeg2000")
    r0 = next(r for r in rows if r["codec"] == "jpeg2000" and float(r["value"]) == 0.2)
    assert float(r0["perceptual"]) == pytest.approx(pm(x, c.decode(c.encode(x, bpp=0.2)).image), abs=1e-6)
    # more bits, smaller distance (on the mean curve)
    d = [float(r["perceptual"]) for r in rows if r["codec"] == "jpeg2000"]
    assert d[0] > d[-1]
    bd = list(csv.DictReader(open(out / "bd_rate.csv")))
    assert {b["metric"] for b in bd} == {"psnr_db", "ms_ssim_db", "perceptual"}
    assert (out / "rd_perceptual.png").stat().st_size > 0
    assert "perceptual" in open(out / "rd_mean.csv").readline()


def test_rd_cli_scores_several_perceptual_metrics(tmp_path):
    """--perceptual lpips,dists: a column per metric (the first is also 'perceptual'), a BD-rate
    and a plot each; an unknown name is a clear error."""
    from semlink.cli import main
    from semlink.simulator.metrics import perceptual_metric

    out = tmp_path / "rdm"
    assert main(["rd", "--dataset", "photos", "--size", "96", "--max-items", "1", "--no-progress", "--out", str(out),
                 "--codecs", "jpeg2000=bpp:0.2:0.4:0.8:1.2,webp=bpp:0.2:0.4:0.8:1.2", "--anchor", "jpeg2000",
                 "--perceptual", "lpips,dists"]) == 0
    rows = list(csv.DictReader(open(out / "rd.csv")))
    assert {r["perceptual_metric"] for r in rows} == {"lpips"}
    assert all(r["perceptual"] == r["lpips"] and float(r["dists"]) > 0 for r in rows)
    from semlink.codecs import get_codec
    from semlink.data import get_dataset

    x = get_dataset("photos", size=96, max_items=1).items[0].data
    r0 = next(r for r in rows if r["codec"] == "webp" and float(r["value"]) == 0.4)
    y = get_codec("webp").decode(get_codec("webp").encode(x, bpp=0.4)).image
    assert float(r0["dists"]) == pytest.approx(perceptual_metric("dists")(x, y), abs=1e-5)
    bd = list(csv.DictReader(open(out / "bd_rate.csv")))
    assert {b["metric"] for b in bd} == {"psnr_db", "ms_ssim_db", "perceptual", "dists"}
    assert (out / "rd_dists.png").stat().st_size > 0
    assert {"lpips", "dists"} <= set(open(out / "rd_mean.csv").readline().strip().split(","))
    with pytest.raises(SystemExit):
        main(["rd", "--out", str(out), "--perceptual", "lpips,psnr"])


def test_monotone_envelope_drops_repeated_and_dominated_points():
    from semlink.rd.bd import monotone_envelope

    r = np.array([0.05, 0.05, 0.05, 0.1, 0.2, 0.3, 0.25, np.nan])
    q = np.array([20.0, 20.0, 20.0, 22.0, 25.0, 24.9, 26.0, 30.0])
    er, eq = monotone_envelope(r, q)
    assert er.tolist() == [0.05, 0.1, 0.2, 0.25] and eq.tolist() == [20.0, 22.0, 25.0, 26.0]
