"""Training platform: offline corpus sources, the pack (never an evaluation item), chains of
time-limited training runs equal to one run, recipes, the zoo listing."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semlink.cli import main
from semlink.data import corpus
from semlink.data.corpus import CorpusError, CorpusSource


def _photo(seed: int, h: int = 200, w: int = 260) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 20 + 1, w // 20 + 1, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(base).resize((w, h), Image.BICUBIC))


@pytest.fixture
def fake_source(tmp_path, monkeypatch):
    """A corpus source whose Debian package is built here with dpkg-deb (no network)."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not available (not a Debian-based system)")
    monkeypatch.setenv("SEMLINK_CACHE_DIR", str(tmp_path / "cache"))
    pkg = tmp_path / "pkg"
    files = ("usr/share/backgrounds/test/a.jpg", "usr/share/backgrounds/test/b.png")
    for i, f in enumerate(files):
        (pkg / f).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_photo(i)).save(pkg / f)
    (pkg / "DEBIAN").mkdir()
    (pkg / "DEBIAN" / "control").write_text("Package: semlink-test-photos\nVersion: 1.0\nArchitecture: all\n"
                                            "Maintainer: test <t@example.org>\nDescription: test photos\n")
    deb = tmp_path / "semlink-test-photos_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(deb)], check=True, capture_output=True)
    src = CorpusSource("test-photos", "semlink-test-photos", files, "image", "CC0", "two test photos")
    monkeypatch.setitem(corpus.SOURCES, src.name, src)
    return src, deb


def test_fetch_unpacks_only_the_listed_files_with_hashes(fake_source):
    src, deb = fake_source
    dest = corpus.fetch(src.name, deb=deb)
    meta = json.loads((dest / "source.json").read_text())
    assert sorted(meta["files"]) == ["a.jpg", "b.png"] and meta["licence"] == "CC0"
    assert all(meta["files"][n]["sha256"] == corpus.sha256_file(dest / n) for n in meta["files"])
    assert [p.name for p in corpus.fetched_files(src.name)] == ["a.jpg", "b.png"]
    with pytest.raises(CorpusError, match="not fetched: run `semlink data fetch mate-nature`"):
        corpus.fetched_files("mate-nature")


def test_pack_writes_a_verifiable_manifest(fake_source, tmp_path):
    src, deb = fake_source
    corpus.fetch(src.name, deb=deb)
    m = corpus.pack(tmp_path / "pack", ["bundled", src.name], max_side=128)
    assert len(m["images"]) == 9 + 2 and m["hash"]
    assert all(max(e["size"]) <= 128 for e in m["images"])
    assert {e["source"] for e in m["images"]} == {"bundled", "test-photos"}
    assert corpus.verify_pack(tmp_path / "pack")["hash"] == m["hash"]
    victim = tmp_path / "pack" / m["images"][0]["file"]
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(CorpusError, match=m["images"][0]["file"]):
        corpus.verify_pack(tmp_path / "pack")


def test_pack_refuses_evaluation_items_even_rescaled(tmp_path, monkeypatch):
    from semlink.data import get_dataset

    astronaut = get_dataset("photos", max_items=1)[0].data
    folder = tmp_path / "sneaky"
    folder.mkdir()
    Image.fromarray(astronaut).resize((300, 300), Image.LANCZOS).save(folder / "x.jpg", quality=90)
    src = CorpusSource("sneaky", "x", ("x.jpg",), "image", "?", "an evaluation photo in disguise")
    monkeypatch.setitem(corpus.SOURCES, "sneaky", src)
    (folder / "source.json").write_text(json.dumps({"files": {"x.jpg": {"path": str(folder / "x.jpg"), "sha256": ""}}}))
    with pytest.raises(CorpusError, match="matches the evaluation item photos/astronaut"):
        corpus.pack(tmp_path / "p", ["sneaky"], roots={"sneaky": folder})


def test_shipped_training_sources_hold_no_evaluation_item():
    """Every bundled training image differs from every evaluation item (pixels and thumbnails)."""
    from semlink.train.data import _load_rgb, bundled_files

    fps = corpus.evaluation_fingerprints()
    assert len(fps) >= 7 + 3 * 3  # photos + three frames of each clip
    for p in bundled_files():
        assert corpus.matches_evaluation(_load_rgb(p), fps) is None, p


# ------------------------------------------------------------------------------ training
def _tiny(tmp_path, out, **kw):
    from semlink.train.loop import TrainConfig

    data = tmp_path / "imgs"
    if not data.exists():
        data.mkdir()
        for i in range(3):
            Image.fromarray(_photo(10 + i, 96, 128)).save(data / f"{i}.png")
    base = dict(lmbda=0.01, steps=6, out=str(tmp_path / out), n=8, m=8, arch="MeanScaleHyperprior", batch=2, val_fraction=0.34, val_every=2,
                crop=64, data=f"folder:{data}", save_every=100, log_every=2, progress=False, threads=1)
    base.update(kw)
    return TrainConfig(**base)


def _weights(run: Path) -> dict:
    import torch

    return torch.load(run / "train_state.pt", map_location="cpu", weights_only=True)["model"]


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_chain_of_time_limited_runs_equals_one_run(tmp_path, amp):
    import torch

    from semlink.train.loop import train

    one = train(_tiny(tmp_path, "one", amp=amp))
    assert one["step"] == 6 and not one["stopped_at_time_limit"]
    first = train(_tiny(tmp_path, "chain", amp=amp, max_minutes=1e-9))  # stops at once, with a checkpoint
    assert first["stopped_at_time_limit"] and first["step"] == 0
    mid = train(_tiny(tmp_path, "chain", amp=amp, steps=6, resume_flag=True, max_minutes=None))
    assert mid["step"] == 6
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "chain")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # and a chain split at a step boundary: 3 steps, then resume to 6
    train(_tiny(tmp_path, "split", amp=amp, steps=3))
    train(_tiny(tmp_path, "split", amp=amp, steps=6, resume_flag=True))
    c = _weights(tmp_path / "split")
    assert all(torch.equal(a[k], c[k]) for k in a)
    # validation on the held-out image every 2 steps, best checkpoint exported
    val = (tmp_path / "one" / "val.csv").read_text().splitlines()
    assert val[0] == "step,loss,bpp,mse,psnr" and [int(v.split(",")[0]) for v in val[1:]] == [2, 4, 6]
    assert (tmp_path / "one" / "best.pt").is_file() and one["best_validation"]["step"] in (2, 4, 6)


def test_recipe_file_and_command_line_override(tmp_path):
    cfg = _tiny(tmp_path, "r")
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'model = "hyperprior"\narch = "MeanScaleHyperprior"\nn = 8\nm = 8\nlambda = 0.01\nsteps = 2\n'
                      f'batch = 2\ncrop = 64\ndata = "{cfg.data}"\nout = "{tmp_path / "r"}"\nthreads = 1\n')
    assert main(["train", "hyperprior", "--recipe", str(recipe), "--steps", "3", "--no-progress"]) == 0
    state = _weights_state(tmp_path / "r")
    assert state["step"] == 3 and state["config"]["lmbda"] == 0.01 and state["config"]["n"] == 8
    bad = tmp_path / "bad.toml"
    bad.write_text('lambda = 0.01\ncolour = "red"\n')
    assert main(["train", "hyperprior", "--recipe", str(bad)]) == 2


def _weights_state(run: Path) -> dict:
    import torch

    return torch.load(run / "train_state.pt", map_location="cpu", weights_only=True)


def test_zoo_list_prints_every_model_and_verifies(capsys):
    from semlink.zoo import manifest

    assert main(["zoo", "list", "--verify"]) == 0
    out = capsys.readouterr().out
    assert all(m["name"] in out for m in manifest()) and f"{len(manifest())} files match" in out


def test_ema_weights_resume_exactly_and_are_what_is_exported(tmp_path):
    """With --ema the averaged weights survive a split chain bit for bit, and the export holds
    the averaged (not the raw) weights."""
    import torch

    from semlink.train.loop import train
    from semlink.zoo.checkpoints import read_checkpoint

    train(_tiny(tmp_path, "ema1", ema=0.9))
    train(_tiny(tmp_path, "ema2", ema=0.9, steps=3))
    train(_tiny(tmp_path, "ema2", ema=0.9, steps=6, resume_flag=True))
    s1 = torch.load(tmp_path / "ema1" / "train_state.pt", map_location="cpu", weights_only=True)
    s2 = torch.load(tmp_path / "ema2" / "train_state.pt", map_location="cpu", weights_only=True)
    assert s1["ema"].keys() == s2["ema"].keys() and all(torch.equal(s1["ema"][k], s2["ema"][k]) for k in s1["ema"])
    exported = read_checkpoint(tmp_path / "ema1" / "hyperprior.pt")["state_dict"]
    k = "g_a.0.weight"
    assert torch.allclose(exported[k], s1["ema"][k].half().float())
    assert not torch.allclose(exported[k], s1["model"][k].half().float())
    with pytest.raises(ValueError, match="ema"):
        train(_tiny(tmp_path, "ema3", ema=1.0))


def test_tensorboard_scalars_when_installed(tmp_path):
    """The trainer mirrors log.csv / val.csv into TensorBoard event files (tensorboard is a test extra)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from semlink.train.loop import train

    train(_tiny(tmp_path, "tb", steps=4))
    acc = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "train/loss" in tags and "val/loss" in tags
    assert [e.step for e in acc.Scalars("train/loss")] == [2, 4]
