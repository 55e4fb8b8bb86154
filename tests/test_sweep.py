"""Sweep runner: spec validation, resume, determinism across workers, ideal mode, plots, CLI."""

import math
import numpy as np
import pandas as pd

import pytest

from semlink.cli import main
from semlink.errors import ConfigError
from semlink.phy.ideal import capacity_awgn
from semlink.sweep import ResultStore, load_spec, parse_spec, read_table, run_sweep

# columns that legitimately differ between runs (timings)
VOLATILE = {"encode_s", "decode_s", "link_s", "metrics_s", "load_s", "warmup_s", "link_warmup_s"}


def _spec(tmp_path, **over):
    raw = {
        "name": "t", "seed": 3, "trials": 2, "snr_db": [4.0, 30.0],
        "dataset": {"name": "photos", "max_items": 2, "options": {"size": 96, "crop": 96}},
        "codec": [{"name": "jpeg", "quality": 40}, {"name": "jpeg2000", "bpp": 0.8}],
        "link": {"mode": "phy", "channel": "tdl-c", "modulation": "qpsk"},
        "metrics": ["psnr", "ms_ssim"],
        "out": str(tmp_path / "out"),
    }
    raw.update(over)
    return parse_spec(raw)


def _stable(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


@pytest.mark.parametrize("mutate,match", [
    (lambda r: r.update(bogus=1), r"unknown key\(s\) \['bogus'\]"),
    (lambda r: r["link"].update(channel="tdl-z"), "channel='tdl-z'"),
    (lambda r: r["link"].update(colour="red"), r"\[link\]: unknown key\(s\) \['colour'\]"),
    (lambda r: r["codec"][0].update(name="bpg"), r"codec\[0\]\.name='bpg' is unknown"),
    (lambda r: r["codec"][0].update(bpp=0.3), "give one rate key"),
    (lambda r: r["codec"][1].update(bpp=-1), "rates must be positive"),
    (lambda r: r.update(snr_db="20:0:2"), "snr-db"),
    (lambda r: r["dataset"].update(name="kodak"), "dataset.name='kodak'"),
    (lambda r: r["link"].update(mode="analog"), "link.mode='analog'"),
    (lambda r: r["link"].update(modulation=["qpsk", "256qam"]), "modulation='256qam'"),
    (lambda r: r.update(trials=0), "trials"),
])
def test_spec_errors_name_the_key(tmp_path, mutate, match):
    raw = {
        "snr_db": [0.0], "dataset": {"name": "photos"},
        "codec": [{"name": "jpeg", "quality": 40}, {"name": "jpeg2000", "bpp": 0.3}],
        "link": {"mode": "phy"},
    }
    mutate(raw)
    with pytest.raises(ValueError, match=match):
        parse_spec(raw)


def test_every_shipped_spec_parses_and_builds_its_codecs():
    """The experiments/ specs (the README's figures and the measurements the codecs' laws are
    fitted on) parse, and each codec point builds with its options (models load lazily)."""
    from pathlib import Path

    from semlink.codecs import get_codec

    specs = sorted((Path(__file__).parent.parent / "experiments").glob("*.toml"))
    assert len(specs) >= 10
    for path in specs:
        spec = load_spec(path)
        assert spec.codecs and spec.snr_db, path.name
        for point in spec.codecs:
            get_codec(point.codec, **dict(point.options))


def test_lists_expand_to_cross_product(tmp_path):
    spec = _spec(tmp_path, link={"channel": ["awgn", "tdl-a"], "modulation": ["qpsk", "16qam"]})
    assert len(spec.links) == 4
    from semlink.sweep.runner import plan

    assert len(plan(spec)) == 2 * 2 * 4 * 2 * 2  # items x codecs x links x snrs x trials


def test_rows_are_complete_and_resume_matches_uninterrupted(tmp_path):
    spec = _spec(tmp_path)
    full = run_sweep(spec, tmp_path / "full", progress=False)
    assert len(full) == 2 * 2 * 2 * 2
    r = full[0]
    for col in ("item", "codec", "rate", "channel", "modulation", "snr_db", "trial", "psnr", "ms_ssim", "bits",
                "bpp", "raw_ber", "ber", "bler", "decoded_ok", "cbr", "cbr_total", "spec_hash", "sionna_version"):
        assert col in r, col
    assert r["cbr_total"] > r["cbr"] > 0
    # at 30 dB everything arrives intact; at 4 dB over TDL-C with QPSK r3/4 packets are lost
    hi = [x for x in full if x["snr_db"] == 30.0]
    assert all(x["decoded_ok"] and x["packets_lost"] == 0 for x in hi)
    assert any(x["packets_lost"] > 0 for x in full if x["snr_db"] == 4.0)

    class Stop(Exception):
        pass

    seen = []

    def interrupt(row):
        seen.append(row)
        if len(seen) == 5:
            raise Stop

    with pytest.raises(Stop):
        run_sweep(spec, tmp_path / "resumed", progress=False, on_row=interrupt)
    assert len(ResultStore(tmp_path / "resumed").load()) == 5
    resumed = run_sweep(spec, tmp_path / "resumed", progress=False)
    assert _stable(resumed) == _stable(full)
    table = read_table(tmp_path / "resumed" / "results.csv")
    assert len(table) == len(full)
    # --fresh starts over
    again = run_sweep(spec, tmp_path / "resumed", progress=False, fresh=True)
    assert _stable(again) == _stable(full)


def test_results_do_not_depend_on_worker_count(tmp_path):
    spec = _spec(tmp_path, trials=1, snr_db=[6.0])
    one = run_sweep(spec, tmp_path / "w1", workers=1, progress=False)
    two = run_sweep(spec, tmp_path / "w2", workers=2, progress=False)
    assert _stable(one) == _stable(two)


def test_ideal_mode_picks_largest_rate_that_fits(tmp_path):
    qualities = [10, 30, 50, 70, 90]
    spec = _spec(tmp_path, trials=1, snr_db=[-5.0, 5.0, 15.0, 40.0],
                 codec=[{"name": "jpeg", "quality": qualities}], link={"mode": "ideal", "cbr": 1 / 12})
    rows = run_sweep(spec, tmp_path / "ideal", progress=False)
    from semlink.codecs import get_codec
    from semlink.data import get_dataset

    ds = {it.name: it.data for it in get_dataset("photos", size=96, crop=96)}
    jpeg = get_codec("jpeg")
    for r in rows:
        img = ds[r["item"]]
        uses = math.floor(img.size / 12)
        budget = uses * capacity_awgn(r["snr_db"])
        bits = {q: jpeg.encode(img, quality=q).num_bits for q in qualities}
        fitting = [q for q in qualities if bits[q] <= budget]
        if fitting:
            assert r["rate"] == f"quality={max(fitting)}" and not r["outage"] and r["decoded_ok"]
            assert r["bits"] == bits[max(fitting)]
        else:
            assert r["outage"] and not r["decoded_ok"]
    assert any(r["outage"] for r in rows) and any(not r["outage"] for r in rows)


def test_cli_sweep_and_plot(tmp_path):
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(
        'name = "c"\nsnr_db = "10:20:10"\nmetrics = ["psnr"]\n'
        '[dataset]\nname = "photos"\nmax_items = 1\noptions = {size = 64, crop = 64}\n'
        '[[codec]]\nname = "jpeg"\nquality = [20, 60]\n'
        '[link]\nmode = "phy"\nchannel = "awgn"\n'
    )
    out = tmp_path / "o"
    assert main(["sweep", str(spec_file), "--out", str(out), "--quiet"]) == 0
    for name in ("results.csv", "psnr_vs_snr.png", "psnr_vs_snr.pdf", "ber_vs_snr.png", "rate_breakdown.png"):
        assert (out / name).stat().st_size > 0, name
    assert main(["plot", str(out / "results.csv"), "--metric", "bler", "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b.png").stat().st_size > 0
    assert main(["plot", str(out), "--metric", "lpips"]) == 2  # not in the results: clear error, exit 2
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2


def test_quick_spec_is_valid():
    spec = load_spec("experiments/quick.toml")
    assert spec.links[0].config.channel == "tdl-c" and spec.snr_db[0] == 0 and spec.snr_db[-1] == 30


def test_dask_backend_gives_the_same_rows(tmp_path):
    """The optional Dask backend runs the same row function (tested on an in-process local cluster)."""
    import distributed  # part of the test extra

    spec = _spec(tmp_path, trials=1, snr_db=[6.0], dataset={"name": "photos", "max_items": 1,
                                                           "options": {"size": 96, "crop": 96}})
    local = run_sweep(spec, tmp_path / "local", progress=False)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None):
        via_dask = run_sweep(spec, tmp_path / "dask", progress=False, backend="dask")
    assert _stable(local) == _stable(via_dask)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path):
    """A real Dask cluster on loopback: `dask scheduler` + two `dask worker` processes."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    dask_cli = Path(sys.executable).with_name("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([str(dask_cli), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    for i in range(2):
        procs.append(subprocess.Popen([str(dask_cli), "worker", address, "--nthreads", "1", "--no-dashboard",
                                       "--name", f"w{i}", "--local-directory", str(tmp_path / f"w{i}")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout=5) as c:
                    c.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                    break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_sweep_runs_on_an_existing_dask_cluster(tmp_path, dask_cluster, monkeypatch):
    """`--backend dask` with $DASK_SCHEDULER_ADDRESS (and --scheduler) uses that cluster's workers."""
    from distributed import Client

    spec = _spec(tmp_path, trials=1, snr_db=[6.0, 30.0])
    local = run_sweep(spec, tmp_path / "local", progress=False)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", dask_cluster)
    via_env = run_sweep(spec, tmp_path / "env", progress=False, backend="dask")
    assert _stable(via_env) == _stable(local)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(
        'name = "c"\nsnr_db = [6.0, 30.0]\nmetrics = ["psnr", "ms_ssim"]\nseed = 3\n'
        '[dataset]\nname = "photos"\nmax_items = 2\noptions = {size = 96, crop = 96}\n'
        '[[codec]]\nname = "jpeg"\nquality = 40\n[[codec]]\nname = "jpeg2000"\nbpp = 0.8\n'
        '[link]\nmode = "phy"\nchannel = "tdl-c"\nmodulation = "qpsk"\n'
    )
    assert main(["sweep", str(spec_file), "--out", str(tmp_path / "cli"), "--quiet", "--no-plots",
                 "--backend", "dask", "--scheduler", dask_cluster]) == 0
    cli_rows = read_table(tmp_path / "cli" / "results.csv")
    assert len(cli_rows) == len(local)
    with Client(dask_cluster) as c:  # the rows ran on the cluster's two workers
        ran = c.run(lambda dask_worker: sum("_run_group" in str(e) for e in dask_worker.state.log))
        assert len(ran) == 2 and sum(ran.values()) > 0
    assert main(["sweep", str(spec_file), "--scheduler", dask_cluster]) == 2  # needs --backend dask


def test_a_resume_never_mixes_two_runs(tmp_path):
    """The fingerprint: a changed seed, dataset option or model file stops a resume naming it;
    more SNRs are new rows of the same run; --fresh starts over."""
    from semlink.errors import ConfigError
    from semlink.sweep import parse_spec, run_sweep

    base = {"snr_db": [30.0], "metrics": ["psnr"], "out": str(tmp_path / "o"),
            "dataset": {"name": "photos", "max_items": 1, "options": {"size": 64, "crop": 64}},
            "codec": [{"name": "jpeg", "quality": 50}], "link": {"mode": "ideal", "cbr": 1.0}}
    assert len(run_sweep(parse_spec(base), progress=False)) == 1
    assert (tmp_path / "o" / "fingerprint.json").is_file()
    more = {**base, "snr_db": [20.0, 30.0]}
    assert len(run_sweep(parse_spec(more), progress=False)) == 2  # extends the run
    with pytest.raises(ConfigError, match="seed: 0 -> 7"):
        run_sweep(parse_spec({**base, "seed": 7}), progress=False)
    with pytest.raises(ConfigError, match="dataset_options: .*'size': 64.*'size': 96"):
        run_sweep(parse_spec({**base, "dataset": {**base["dataset"], "options": {"size": 96, "crop": 64}}}),
                  progress=False)
    assert len(run_sweep(parse_spec({**base, "seed": 7}), progress=False, fresh=True)) == 1


def test_the_loss_policy_is_part_of_a_codec_fingerprint():
    from semlink.sweep.fingerprint import codec_fingerprint

    default = codec_fingerprint("hyperprior")
    assert default["on_loss"] == "conceal"  # resolved with the default: a changed default is another run
    assert codec_fingerprint("hyperprior", {"on_loss": "decode"})["on_loss"] == "decode"
    assert codec_fingerprint("jpeg2000")["on_loss"] == "decode"


def test_a_retrained_model_is_a_different_run(tmp_path):
    import shutil

    from semlink.errors import ConfigError
    from semlink.sweep import parse_spec, run_sweep
    from semlink.sweep.fingerprint import codec_fingerprint
    from semlink.zoo.checkpoints import zoo_dir

    zoo = tmp_path / "zoo"
    shutil.copytree(zoo_dir(), zoo, ignore=shutil.ignore_patterns("*.pt"))
    fp = codec_fingerprint("hyperprior", {"manifest": str(zoo)})
    assert "manifest:" + str(zoo) in fp["files"] and fp["class"].endswith("HyperpriorCodec")
    # the shipped zoo: the digests of the entries a codec loads, not the whole manifest's
    from semlink.zoo.checkpoints import read_manifest

    entries = {m["name"]: m for m in read_manifest()[0]}
    hp = codec_fingerprint("hyperprior")["files"]
    assert hp == {f"zoo:{n}": m["sha256"] for n, m in entries.items() if m["codec"] == "hyperprior"}
    dvc = codec_fingerprint("dvc-pair")["files"]  # its intra image is the hyperprior's
    assert dvc == {**hp, **{f"zoo:{n}": m["sha256"] for n, m in entries.items() if m["codec"] == "dvc-pair"}}
    assert not set(codec_fingerprint("gan-c2f")["files"]) & set(hp)  # retraining the hyperprior keeps gan-c2f's rows
    spec = {"snr_db": [30.0], "metrics": ["psnr"], "out": str(tmp_path / "o"),
            "dataset": {"name": "photos", "max_items": 1, "options": {"size": 64, "crop": 64}},
            "codec": [{"name": "jpeg", "quality": 50}], "link": {"mode": "ideal", "cbr": 1.0}}
    run_sweep(parse_spec(spec), progress=False)
    # the same label now names another codec configuration: its fingerprint differs
    with pytest.raises(ConfigError, match="codec 'jpeg'"):
        run_sweep(parse_spec({**spec, "codec": [{"name": "webp", "quality": 50, "label": "jpeg"}]}), progress=False)


def test_one_budget_rule_for_every_codec_of_a_spec(tmp_path):
    """budget = "item" (default): no image of any codec exceeds its own budget, a set codec's
    shared bits apportioned; budget = "set": a set codec pools; mixing it with per-image codecs is refused."""
    import math
    from pathlib import Path

    from semlink.errors import ConfigError
    from semlink.phy.ideal import capacity_awgn
    from semlink.sweep import parse_spec, run_sweep

    base = {"snr_db": [0.0, 4.0, 8.0, 14.0], "metrics": ["psnr"], "out": str(tmp_path / "o"),
            "dataset": {"name": "photos", "max_items": 4, "options": {"size": 64, "crop": 64}, "set_size": 4},
            "plugins": [str(Path(__file__).parent / "toy_codecs.py")],
            "codec": [{"name": "toy-set"}, {"name": "jpeg", "quality": [20, 50, 80], "label": "jpeg"}],
            "link": {"mode": "ideal", "cbr": 0.15}}
    rows = run_sweep(parse_spec(base), progress=False)
    assert {r["codec"] for r in rows} == {"toy-set", "jpeg"}
    sent = {c: sum(not r["outage"] for r in rows if r["codec"] == c) for c in ("toy-set", "jpeg")}
    assert all(0 < n < 16 for n in sent.values()), sent  # both codecs sent some images and lost others
    for r in rows:
        if not r["outage"]:
            own = math.floor(0.15 * 64 * 64 * 3) * capacity_awgn(r["snr_db"])  # the image's own budget [bits]
            assert r["bits"] <= own + 1e-6, (r["codec"], r["snr_db"], r["bits"], own)
    sets = [r for r in rows if r["codec"] == "toy-set"]
    assert all(r["budget_rule"] == "item" and math.isfinite(r["budget_item"]) for r in sets)
    pooled = {**base, "codec": [base["codec"][0]], "link": {**base["link"], "budget": "set"}, "out": str(tmp_path / "p")}
    assert run_sweep(parse_spec(pooled), progress=False)
    with pytest.raises(ConfigError, match="does not allocate per-image rates jointly"):
        parse_spec({**base, "link": {**base["link"], "budget": "set"}})


def test_replay_gives_the_stored_rows_and_their_reconstructions_and_the_strip_figure(tmp_path, monkeypatch):
    """A finished sweep's rows computed again keep their images, agree with the table, and make
    the reconstruction strips of items chosen by rule."""
    from semlink.figures import get_figure
    from semlink.sweep import load_spec, run_sweep
    from semlink.sweep.replay import replay

    monkeypatch.setenv("SEMLINK_CACHE_DIR", str(tmp_path / "cache"))
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text(
        'snr_db = [0.0, 6.0, 30.0]\ntrials = 1\nmetrics = ["psnr"]\nout = "%s"\n'
        '[dataset]\nname = "photos"\nmax_items = 2\noptions = {size = 64, crop = 64}\n'
        '[[codec]]\nname = "jpeg"\nbpp = 0.5\n[[codec]]\nname = "jpeg2000"\nbpp = 0.5\n'
        '[link]\nchannel = "awgn"\nestimator = "perfect"\n' % (tmp_path / "o"))
    rows = run_sweep(load_spec(spec_file), progress=False)
    out = tmp_path / "o"
    assert (out / "spec.toml").read_text() == spec_file.read_text()  # the sweep keeps what made it
    keys = [r["key"] for r in rows if r["snr_db"] in (0.0, 30.0)]
    got = replay(out, keys)
    assert [g.key for g in got] == keys
    for g in got:
        assert g.matches is True, g.key
        assert g.reconstruction.shape == g.original.shape == (64, 64, 3) and g.reconstruction.dtype == np.uint8
        psnr = 10 * np.log10(255.0 ** 2 / np.mean((g.reconstruction.astype(float) - g.original) ** 2))
        assert psnr == pytest.approx(g.row["psnr"], abs=1e-3)
    with pytest.raises(ConfigError, match="does not plan"):
        replay(out, ["nope|jpeg"])
    (out / "spec.toml").unlink()
    with pytest.raises(ConfigError, match="no spec"):
        replay(out, keys)
    files = get_figure("strip")([out], tmp_path / "fig", rule="worst,best", spec=str(spec_file))
    pngs = sorted(p.name for p in files if p.suffix == ".png")
    assert len(pngs) == 2 and all(n.startswith(("strip_worst_", "strip_best_")) for n in pngs)
    table = pd.read_csv(tmp_path / "fig" / "strip.csv")
    assert table["matches_table"].all() and set(table["codec"]) == {"jpeg", "jpeg2000"}
