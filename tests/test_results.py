"""semlink.results (typed tables, the one CI, paired differences, ax= plots), semlink.evaluate
and the figure registry (``semlink figure``)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from semlink import results
from semlink.errors import ConfigError
from semlink.tables import write_csv

TOYS = str(Path(__file__).with_name("toy_codecs.py"))


# ------------------------------------------------------------------------------ fixtures
def _sweep_rows(codecs=("a", "b"), items=("0001", "0002", "0003"), snrs=(0.0, 10.0), trials=2, value=None, seed=0):
    """Rows shaped like a sweep's (the columns the plots and figures read)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in codecs:
        for it in items:
            for s in snrs:
                for t in range(trials):
                    psnr = value(c, it, s, t, rng) if value else 20.0 + s + rng.normal()
                    rows.append({
                        "key": f"{it}|{c}|[]|quality=3|abc|{s:g}|{t}", "item": it, "set": "", "codec": c,
                        "rate": "quality=3", "rate_target": "quality=3", "link": "awgn qpsk", "link_id": "abc",
                        "mode": "phy", "channel": "awgn", "modulation": "qpsk", "code": "80211n-648-3/4",
                        "estimator": "ls", "equalizer": "lmmse", "snr_db": s, "trial": t, "psnr": psnr,
                        "ms_ssim": 0.9, "st_lpips": 0.2, "bits": 1000 + t, "shared_bits": 0.0, "own_bits": 1000 + t,
                        "bits_by_part": {"header": 24, "body": 976 + t}, "bpp": 0.1, "cbr": 0.05, "bcr": 0.004,
                        "ber": 0.0 if s > 5 else 1e-3, "bler": 0.0, "packets": 4, "packets_lost": 0,
                        "decoded_ok": s > 5, "outage": False, "reason": "", "on_loss": "conceal",
                        "channel_adaptive": False, "channel_state": "", "protect": {},
                        "encode_info": {"quality": 3, "tool": "toy", "ks": [1, 2]}, "recovered": "",
                        "perceptual_metric": "st_lpips", "seed": 2**64 - 5, "set_size": 1,
                        "channel_params": '{"delay_spread": 1e-07}',
                    })
    return rows


@pytest.fixture
def sweep_dir(tmp_path):
    from semlink.sweep import ResultStore

    rows = _sweep_rows()
    store = ResultStore(tmp_path / "sweep")
    store.dir.mkdir(parents=True)
    store.write_table(rows)
    return store.dir, rows


# ------------------------------------------------------------------------------ typed load
def test_load_types_every_column_by_the_schema(sweep_dir):
    d, rows = sweep_dir
    df = results.load(d)
    assert df.attrs["table"] == "sweep" and len(df) == len(rows)
    assert df["item"].tolist()[:2] == ["0001", "0001"]          # not the number 1
    assert str(df["item"].dtype) == "string" and str(df["trial"].dtype) == "Int64"
    assert str(df["decoded_ok"].dtype) == "boolean" and str(df["snr_db"].dtype) == "float64"
    assert df["seed"].iloc[0] == 2**64 - 5                       # 64-bit seeds survive exactly
    assert df["set"].iloc[0] == ""                              # "" means: not coded in sets
    assert math.isnan(df["recovered"].iloc[0])
    assert df["bits_by_part"].iloc[0] == {"header": 24, "body": 976}
    assert df["bits_by_part.body"].tolist()[:2] == [976.0, 977.0]
    assert df["encode_info.quality"].iloc[0] == 3.0 and df["encode_info.ks"].iloc[0] == [1, 2]
    assert df["channel_params"].iloc[0] == {"delay_spread": 1e-07} and df["channel_state"].iloc[0] is None
    assert df["rate_key"].iloc[0] == "quality" and df["rate_value"].iloc[0] == 3.0
    # rows in memory (a sweep's journal) get exactly the same table
    mem = results.frame(rows)
    pd.testing.assert_frame_equal(mem, df.drop(columns=["source"]), check_like=True)
    # the row-dict view keeps the types too (semlink.sweep.read_table)
    from semlink.sweep import read_table

    r0 = read_table(d / "results.csv")[0]
    assert r0["item"] == "0001" and r0["trial"] == 0 and r0["decoded_ok"] is False and r0["bits"] == 1000
    assert isinstance(r0["bits"], int) and r0["encode_info"]["tool"] == "toy"


def test_load_rd_tables_journals_and_errors(tmp_path):
    write_csv(tmp_path / "rd" / "rd.csv", [
        {"dataset": "folder:x", "item": "007", "height": 8, "width": 8, "codec": "jpeg", "tool": "t", "param": "quality",
         "value": 50, "quality": "", "bits": 100, "bpp": 1.5625, "psnr_db": math.inf, "ms_ssim": 1.0,
         "decoded_ok": True, "encode_s": 0.1, "decode_s": 0.1}])
    rd = results.load(tmp_path / "rd")
    assert rd.attrs["table"] == "rd" and rd["item"].iloc[0] == "007" and math.isinf(rd["psnr_db"].iloc[0])
    assert rd["rate_key"].iloc[0] == "quality" and rd["rate_value"].iloc[0] == 50.0
    # a journal with a torn last line
    j = tmp_path / "j"
    j.mkdir()
    import json

    (j / "rows.jsonl").write_text(json.dumps(_sweep_rows(codecs=("a",), items=("x",), snrs=(1.0,), trials=1)[0])
                                  + "\n" + '{"item": "torn')
    assert len(results.load(j)) == 1
    # several folders: one table
    both = results.load([tmp_path / "rd", tmp_path / "rd"])
    assert len(both) == 2
    with pytest.raises(ConfigError, match="does not exist"):
        results.load(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="no result table"):
        results.load(tmp_path)


def test_set_rows_with_fractional_bits_read_as_float(tmp_path):
    rows = _sweep_rows(codecs=("a",), items=("x", "y"), snrs=(1.0,), trials=1)
    rows[0]["bits"] = 1000.5
    write_csv(tmp_path / "results.csv", rows, list(rows[0]))
    df = results.load(tmp_path)
    assert str(df["bits"].dtype) == "float64" and df["bits"].tolist() == [1000.5, 1000.0]


def test_schema_declares_every_column_a_sweep_row_has(sweep_dir):
    from semlink.results.schema import BY_NAME, columns

    names = {c.name for c in columns("sweep")}
    assert {"psnr", "st_lpips", "bits", "seed", "encode_info", "rate_key"} <= names
    assert {"psnr_db", "param", "value", "perceptual"} <= {c.name for c in columns("rd")}
    assert BY_NAME["snr_db"].unit == "dB" and BY_NAME["bpp"].unit == "bits / pixel"
    d, rows = sweep_dir
    undeclared = set(rows[0]) - set(BY_NAME)
    assert not undeclared, undeclared


# ------------------------------------------------------------------------------ summarize
def test_summarize_mean_and_student_t_interval():
    df = pd.DataFrame({"g": ["x"] * 4 + ["y"], "v": [1.0, 2.0, 3.0, 6.0, 5.0]})
    s = results.summarize(df, by="g", metric="v")
    x = s[s["g"] == "x"].iloc[0]
    v = np.array([1.0, 2.0, 3.0, 6.0])
    half = stats.t.ppf(0.975, 3) * v.std(ddof=1) / 2
    assert x["n"] == 4 and x["mean"] == pytest.approx(3.0) and x["half_width"] == pytest.approx(half)
    assert x["ci_low"] == pytest.approx(3.0 - half) and x["ci_high"] == pytest.approx(3.0 + half)
    y = s[s["g"] == "y"].iloc[0]
    assert y["n"] == 1 and y["mean"] == 5.0 and math.isnan(y["half_width"])  # no interval from one value
    s90 = results.summarize(df, ["g"], "v", level=0.90)
    assert s90["half_width"].iloc[0] < x["half_width"]


def test_summarize_infinite_psnr_policies():
    df = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 2, "psnr": [30.0, 32.0, math.inf, 34.0, math.inf, math.inf]})
    drop = results.summarize(df, "g", "psnr").set_index("g")
    assert drop.loc["a", "mean"] == pytest.approx(32.0) and drop.loc["a", "n"] == 3 and drop.loc["a", "n_inf"] == 1
    assert drop.loc["b", "mean"] == math.inf and drop.loc["b", "n"] == 0 and drop.loc["b", "n_inf"] == 2
    keep = results.summarize(df, "g", "psnr", inf="keep").set_index("g")
    assert keep.loc["a", "mean"] == math.inf and math.isnan(keep.loc["a", "half_width"])
    cap = results.summarize(df, "g", "psnr", inf=100.0).set_index("g")
    assert cap.loc["a", "mean"] == pytest.approx((30 + 32 + 100 + 34) / 4) and cap.loc["a", "n"] == 4
    with pytest.raises(ConfigError, match="inf must be"):
        results.summarize(df, "g", "psnr", inf="huh")
    with pytest.raises(ConfigError, match="not in the results"):
        results.summarize(df, "g", "nope")


# ------------------------------------------------------------------------------ paired differences
def test_paired_difference_that_excludes_zero_and_one_that_does_not():
    shift = {"a": 1.0, "b": 0.0}

    def value(c, it, s, t, rng):
        base = 20.0 + 3 * int(it) + t  # large item-to-item spread, shared by both codecs
        return base + (shift[c] if s > 5 else 0.0) + 0.05 * rng.normal()

    df = results.frame(_sweep_rows(items=tuple(f"{i:04d}" for i in range(6)), snrs=(0.0, 10.0), trials=3,
                                   value=value))
    p = results.paired(df, "a", "b", "psnr").set_index("snr_db")
    assert p.loc[10.0, "n_pairs"] == 18 and p.loc[10.0, "n_unpaired"] == 0
    assert p.loc[10.0, "mean"] == pytest.approx(1.0, abs=0.05)
    assert p.loc[10.0, "excludes_zero"] and p.loc[10.0, "ci_low"] > 0
    assert p.loc[0.0, "mean"] == pytest.approx(0.0, abs=0.05)
    assert not p.loc[0.0, "excludes_zero"] and p.loc[0.0, "ci_low"] < 0 < p.loc[0.0, "ci_high"]
    # unpaired summaries could not see the 1 dB (the item spread swamps it): the pairing matters
    s = results.summarize(df[df["snr_db"] == 10.0], "codec", "psnr").set_index("codec")
    assert s.loc["b", "ci_high"] > s.loc["a", "ci_low"]
    # a row that only one codec has is not paired
    p2 = results.paired(df.iloc[1:], "a", "b", "psnr").set_index("snr_db")
    assert p2.loc[0.0, "n_pairs"] == 17 and p2.loc[0.0, "n_unpaired"] == 1
    with pytest.raises(ConfigError, match="not in the results"):
        results.paired(df, "a", "zzz", "psnr")
    with pytest.raises(ConfigError, match="same"):
        results.paired(pd.concat([df, df]), "a", "b", "psnr")


def test_unit_item_counts_items_not_repeated_rows():
    # every trial of an item gives the same value (an error-free plateau): 3 trials are one draw
    df = results.frame(_sweep_rows(items=tuple(f"{i:04d}" for i in range(4)), snrs=(30.0,), trials=3,
                                   value=lambda c, it, s, t, rng: 20.0 + 2 * int(it) + (0.5 if c == "a" else 0.0)
                                   + 0.3 * ((int(it) * 7) % 3)))
    rows = results.summarize(df, "codec", "psnr").set_index("codec")
    items = results.summarize(df, "codec", "psnr", unit="item").set_index("codec")
    assert rows.loc["a", "n"] == 12 and items.loc["a", "n"] == 4
    assert items.loc["a", "mean"] == pytest.approx(rows.loc["a", "mean"])
    per_item = df[df["codec"] == "a"].groupby("item")["psnr"].mean().to_numpy()
    half = stats.t.ppf(0.975, 3) * per_item.std(ddof=1) / 2
    assert items.loc["a", "half_width"] == pytest.approx(half)
    assert items.loc["a", "half_width"] > rows.loc["a", "half_width"]  # repeated rows overstate the evidence
    p = results.paired(df, "a", "b", "psnr", unit="item").set_index("snr_db")
    assert p.loc[30.0, "n_pairs"] == 12 and p.loc[30.0, "n"] == 4 and p.loc[30.0, "mean"] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="nope"):
        results.summarize(df, "codec", "psnr", unit="nope")


def test_report_groups_by_a_json_column(tmp_path):
    from semlink.results.report import report

    rows = pd.DataFrame({"codec": ["a", "a", "a", "a"], "psnr": [10.0, 12.0, 20.0, 22.0],
                         "protect": ["{}", "{}", '{"base": {"code": "80211n-648-1/2"}}', '{"base": {"code": "80211n-648-1/2"}}']})
    rows.to_csv(tmp_path / "results.csv", index=False)
    text = report(tmp_path / "results.csv", by=["protect"], metrics=["psnr"], digits=1)
    assert "| base.code=80211n-648-1/2 | 21.0" in text and "| none | 11.0" in text
    with pytest.raises(ConfigError, match="no column 'link_name'"):
        report(tmp_path / "results.csv", by=["link_name"], metrics=["psnr"])


def test_report_tables_and_document_blocks(tmp_path, sweep_dir, capsys):
    sweep_dir = sweep_dir[0]
    from semlink.cli import main
    from semlink.results.report import check_document, report

    table = report(sweep_dir, by=["codec"], metrics=["psnr"], where="snr_db>=0")
    assert table.splitlines()[0].startswith("| codec | psnr (mean ± 95 %) | n |")
    with pytest.raises(ConfigError, match="no column 'zzz'"):
        report(sweep_dir, where="zzz>=3")
    with pytest.raises(ConfigError, match="COLUMN"):
        report(sweep_dir, where="snr_db~3")
    wide = report(sweep_dir, by=["snr_db"], metrics=["psnr"], columns="codec", count="decoded_ok", digits=2)
    lines = wide.splitlines()
    assert lines[0] == "psnr, mean ± 95 % over 6 rows per cell" and lines[2] == "| snr_db | a | b |"
    assert lines[4].startswith("| 0 | ") and "(6 of 6 decoded_ok)" in lines[5] and "decoded_ok" not in lines[4]
    with pytest.raises(ConfigError, match="one --metric"):
        report(sweep_dir, by=["snr_db"], metrics=["psnr", "bpp"], columns="codec")
    doc = tmp_path / "doc.md"
    rel = Path(sweep_dir).resolve()
    doc.write_text(f"text\n<!-- report: {rel} --by codec --metric psnr -->\nstale\n<!-- /report -->\nmore\n")
    assert check_document(doc) == [f"{rel} --by codec --metric psnr"]
    assert main(["report", "--update", str(doc)]) == 0
    assert check_document(doc) == []
    text = doc.read_text()
    assert "stale" not in text and text.startswith("text\n") and text.endswith("more\n")
    assert report(sweep_dir, by=["codec"], metrics=["psnr"]) in text


def test_every_report_block_of_the_repository_documents_matches_its_results():
    from semlink.results.report import BLOCK, check_document

    root = Path(__file__).resolve().parents[1]
    docs = [p for p in [root / "README.md", *root.glob("docs/*.md"), *root.glob("semlink/**/README.md"),
                        *root.glob("results/**/README.md")] if BLOCK.search(p.read_text())]
    assert root / "README.md" in docs  # the main job's plateau table is one
    for doc in docs:
        assert check_document(doc) == [], \
            f"{doc}: run `semlink report --update {doc.relative_to(root)}`"


# ------------------------------------------------------------------------------ plots
@pytest.fixture
def no_backend_change(monkeypatch):
    """Fail on matplotlib.use; afterwards the backend and every rcParam are unchanged."""
    before_backend = matplotlib.rcParams._get_backend_or_none()
    before = dict(matplotlib.rcParams)

    def forbidden(*a, **k):
        raise AssertionError("matplotlib.use called")

    monkeypatch.setattr(matplotlib, "use", forbidden)
    yield
    assert matplotlib.rcParams._get_backend_or_none() == before_backend
    after = dict(matplotlib.rcParams)
    changed = {k for k in before if before[k] != after[k] and not (isinstance(before[k], float) and math.isnan(before[k]))}
    assert not changed, changed


def test_plots_draw_into_given_axes(sweep_dir, no_backend_change):
    from matplotlib.figure import Figure

    df = results.load(sweep_dir[0])
    fig = Figure()
    ax = fig.subplots()
    assert results.plot_vs(df, "psnr", ax=ax) is fig
    assert len(ax.get_lines()) == 2 and {t.get_text() for t in ax.get_legend().get_texts()} == \
        {"a (quality=3)", "b (quality=3)"}
    # facets: one panel per codec, drawn into the caller's grid
    fig2 = Figure()
    axes = fig2.subplots(1, 2)
    assert results.plot_vs(df, "psnr", col="codec", hue="item", ax=axes) is fig2
    assert [a.get_title() for a in axes] == ["a", "b"] and all(len(a.get_lines()) == 3 for a in axes)
    with pytest.raises(ConfigError, match="facets need"):
        results.plot_vs(df, "psnr", col="codec", ax=ax)
    # without ax=: a new figure each time, outside pyplot
    own = results.plot_vs(df, "ber", row="channel")
    assert own is not fig and own.axes[0].get_yscale() == "log"
    assert results.plot_metric(df, "st_lpips", ax=ax) is fig
    assert results.plot_rate_breakdown(df, ax=ax) is fig
    rd = df.assign(psnr_db=df["psnr"])
    assert results.plot_rd(rd, "ms_ssim", ax=ax) is fig
    with pytest.raises(ConfigError, match="no mcs"):
        results.plot_mcs(df, ax=ax)
    with pytest.raises(ConfigError, match="metric='lpips' is not in the results"):
        results.plot_metric(df, "lpips")


def test_save_writes_png_and_pdf(tmp_path, sweep_dir, no_backend_change):
    fig = results.plot_vs(results.load(sweep_dir[0]), "psnr")
    files = results.save(fig, tmp_path / "sub" / "p")
    assert [f.name for f in files] == ["p.png", "p.pdf"] and all(f.stat().st_size > 0 for f in files)


# ------------------------------------------------------------------------------ evaluate
def test_evaluate_rows_images_and_sets():
    from semlink.evaluate import evaluate
    from semlink.plugins import load_plugins

    rows = evaluate("jpeg", "photos", [("quality", 30), {"quality": 80}], size=64, max_items=2)
    assert [(r["item"], r["rate"]) for r in rows] == [("astronaut", "quality=30"), ("chelsea", "quality=30"),
                                                      ("astronaut", "quality=80"), ("chelsea", "quality=80")]
    r = rows[0]
    assert r["bits"] == r["own_bits"] and r["bpp"] == r["bits"] / (r["height"] * r["width"]) and r["decoded_ok"]
    assert r["param"] == "quality" and r["value"] == 30 and r["psnr"] < rows[2]["psnr"] and 0 < r["ms_ssim"] <= 1
    df = results.frame(rows)  # evaluate rows are typed by the same schema
    assert str(df["height"].dtype) == "Int64" and str(df["decoded_ok"].dtype) == "boolean"
    load_plugins([TOYS])
    sets = evaluate("toy-set", "photos", [{"quality": 1}], size=64, crop=64, max_items=4, set_size=2)
    assert [r["set"] for r in sets] == ["set000", "set000", "set001", "set001"]
    shared = sets[0]["bits_by_part"]["mean"] * 2  # each image carries half of its set's shared part
    assert sets[0]["shared_bits"] == shared / 2 and sets[0]["bits"] == sets[0]["own_bits"] + shared / 2
    with pytest.raises(ConfigError, match="codes images but dataset"):
        evaluate("jpeg", "clips", max_items=1)
    with pytest.raises(ConfigError, match="unknown metric"):
        evaluate("jpeg", "photos", metrics=("psnr", "vmaf"), max_items=1)
    only_rate = evaluate("jpeg", "photos", {"quality": 50}, size=64, max_items=1, decode=False)
    assert only_rate[0]["decoded_ok"] is None and "psnr" not in only_rate[0]


def test_rd_codes_a_set_codec_as_sets():
    from semlink.plugins import load_plugins
    from semlink.rd import rd_points

    load_plugins([TOYS])
    rows = rd_points("photos", {"toy-set": [("quality", 1)], "jpeg": [("quality", 50)]}, size=64,
                     max_items=4, progress=False, dataset_options={"crop": 64})
    toy = [r for r in rows if r["codec"] == "toy-set"]
    assert len(toy) == 4 and {r["set"] for r in toy} == {"set000"}
    assert all(r["bits"] > r["shared_bits"] > 0 for r in toy)
    assert [r["item"] for r in rows[:2]] == ["astronaut", "astronaut"]  # items first, as before


# ------------------------------------------------------------------------------ figures
def test_figure_registry_lists_and_loads_every_builtin():
    from semlink.figures import FIGURES

    names = FIGURES.names()
    assert {"cliff", "seb-fig4", "seb-fig5", "seb-fig6", "seb-rd", "seb-split", "gan-c2f-pd", "gan-c2f-crops",
            "vqdeepvsc-fig6-7", "vqdeepvsc-ablations"} <= set(names)
    loaded = FIGURES.load_all()  # every figure module imports without a model or a GPU
    assert all(loaded[n].name == n for n in names)


def test_figure_commands_on_a_small_fixture(tmp_path, capsys, no_backend_change):
    from semlink.cli import main

    rows = _sweep_rows(codecs=("jpeg2000 conceal", "jpeg2000 decode", "heic conceal"))
    for r in rows:
        r["on_loss"] = r["codec"].split()[1]
        r["cbr_target"] = 0.08
    ideal = _sweep_rows(codecs=("jpeg2000", "heic"))
    for r in ideal:
        r.update(mode="ideal", modulation="ideal", channel="awgn", code="capacity-achieving", cbr_budget=0.08)
    write_csv(tmp_path / "cliff" / "results.csv", rows, list(dict.fromkeys(k for r in rows for k in r)))
    write_csv(tmp_path / "ideal" / "results.csv", ideal, list(dict.fromkeys(k for r in ideal for k in r)))
    assert main(["figure", "cliff", str(tmp_path / "cliff"), str(tmp_path / "ideal")]) == 0
    assert (tmp_path / "cliff" / "cliff_psnr.png").stat().st_size > 0
    assert "wrote" in capsys.readouterr().out
    # Seb Fig. 4 and the VQ-DeepVSC grid on the same kind of table
    assert main(["figure", "seb-fig4", str(tmp_path / "cliff"), "--out", str(tmp_path / "s4")]) == 0
    s = pd.read_csv(tmp_path / "s4" / "summary.csv")
    assert set(s.columns) >= {"codec", "snr_db", "psnr", "psnr_ci95", "rates", "n"} and (s["n"] == 6).all()
    assert s["rates"].iloc[0] == "quality=3x6"
    assert main(["figure", "vqdeepvsc-fig6-7", str(tmp_path / "cliff"), "--out", str(tmp_path / "vq")]) == 0
    assert (tmp_path / "vq" / "fig6_ms_ssim.png").stat().st_size > 0
    # listing, unknown names and options, options that do not apply
    assert main(["figure", "--list"]) == 0 and "seb-fig4" in capsys.readouterr().out
    assert main(["figure", "nope"]) == 2
    assert "unknown figure 'nope'" in capsys.readouterr().err
    assert main(["figure", "cliff", str(tmp_path / "cliff"), "-o", "colour=red"]) == 2
    assert main(["figure", "cliff", str(tmp_path / "cliff"), "--recompute"]) == 2


def test_no_results_reader_selects_a_matplotlib_backend():
    """Plotting modules neither choose a backend nor touch pyplot's global state (semlink/phy/ber.py
    still does: owned elsewhere)."""
    root = Path(results.__file__).parents[1]
    files = [*root.glob("results/*.py"), root / "figures.py", *root.glob("sweep/*.py"), *root.glob("rd/*.py"),
             *root.glob("semantic/*/figures.py"), root / "evaluate.py"]
    offenders = [str(p.relative_to(root)) for p in files
                 if any(s in p.read_text() for s in ("matplotlib.use(", "rcParams[", "import matplotlib.pyplot"))]
    assert not offenders, offenders


def test_examples_are_chosen_by_a_stated_rule():
    import pandas as pd

    from semlink.results import pick_examples

    rows = []
    for item, (a, b) in {"x": (30.0, 31.0), "y": (33.0, 30.0), "z": (29.0, 29.5), "w": (31.0, 30.0)}.items():
        rows += [{"codec": "seb", "item": item, "psnr": a}, {"codec": "jpeg2000", "item": item, "psnr": b}]
    df = pd.DataFrame(rows)
    got = pick_examples(df, "psnr", "seb", "jpeg2000")
    assert [(p["rule"], p["item"]) for p in got] == [("worst", "x"), ("median", "z"), ("best", "y")]
    assert got[0]["value"] == -1.0 and "psnr(seb) - psnr(jpeg2000) per item (4 items)" in got[0]["rule_text"]
    (d,) = pick_examples(df, "psnr", "seb", rule=("best",), higher_is_better=False)  # a distance: lowest is best
    assert d["item"] == "z"
