"""The ``folder`` dataset (user images / videos), ``parse_dataset_arg`` and ``--dataset folder:DIR``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semlink.data import Item, get_dataset, list_datasets, parse_dataset_arg

H, W = 48, 64


def _rgb(seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth(h: int = H, w: int = W) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (h + w - 2)], -1).astype(np.uint8)


@pytest.fixture
def image_dir(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Folder of images; returns it and the expected uint8 RGB array of each lossless item."""
    d = tmp_path / "imgs"
    (d / "setA").mkdir(parents=True)
    (d / "setB" / "deep").mkdir(parents=True)
    (d / ".hiddendir").mkdir()
    exp: dict[str, np.ndarray] = {}
    exp["b"] = _rgb(1)
    Image.fromarray(exp["b"]).save(d / "b.png")
    Image.fromarray(_smooth()).save(d / "a.jpg", quality=95)
    exp["c"] = _rgb(2)
    Image.fromarray(exp["c"]).save(d / "c.bmp")
    grey = _rgb(3)[..., 0]
    Image.fromarray(grey, "L").save(d / "grey.tif")
    exp["grey"] = np.repeat(grey[..., None], 3, -1)
    rgba = np.concatenate([_rgb(4), np.full((H, W, 1), 77, np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(d / "rgba.png")
    exp["rgba"] = rgba[..., :3]
    pal = Image.fromarray(_rgb(5)).quantize(16)
    pal.save(d / "pal.png")
    exp["pal"] = np.asarray(pal.convert("RGB"))
    exp["setA/img01"] = _rgb(6)
    Image.fromarray(exp["setA/img01"]).save(d / "setA" / "img01.png")
    g16 = (np.arange(H * W).reshape(H, W) * 21).astype(np.uint16)
    Image.fromarray(g16).save(d / "setA" / "img02.tiff")
    exp["setA/img02"] = np.repeat(np.rint(g16 * 255.0 / 65535).astype(np.uint8)[..., None], 3, -1)
    Image.fromarray(_smooth()).save(d / "setB" / "deep" / "x.JPG", quality=95)
    exp["dup.png"] = _rgb(7)
    Image.fromarray(exp["dup.png"]).save(d / "dup.png")
    Image.fromarray(_smooth()).save(d / "dup.jpg")
    Image.fromarray(_rgb(8)).save(d / ".hidden.png")
    Image.fromarray(_rgb(9)).save(d / ".hiddendir" / "z.png")
    (d / "notes.txt").write_text("not an image")
    return d, exp


NAMES = ["a", "b", "c", "dup.jpg", "dup.png", "grey", "pal", "rgba", "setA/img01", "setA/img02", "setB/deep/x"]
GROUPS = ["", "", "", "", "", "", "", "", "setA", "setA", "setB/deep"]


def test_folder_is_registered():
    assert "folder" in list_datasets()


def test_images_names_groups_sorting_and_pixels(image_dir):
    d, exp = image_dir
    ds = get_dataset("folder", path=str(d))
    assert ds.kind == "image" and ds.name == "folder"
    assert ds.source == str(d.resolve()) and Path(ds.source).is_absolute()
    assert ds.licence == "user folder (licence of its files)"
    assert [it.name for it in ds] == NAMES
    assert [it.group for it in ds] == GROUPS
    for it in ds:
        assert it.data.dtype == np.uint8 and it.data.shape == (H, W, 3), it.name
        if it.name in exp:
            np.testing.assert_array_equal(it.data, exp[it.name], err_msg=it.name)
    jpg = ds[0].data.astype(int)
    assert np.abs(jpg - _smooth()).mean() < 3


def test_images_geometry_kind_recursive_and_max_items(image_dir):
    d, exp = image_dir
    ds = get_dataset("folder", path=d, size=24, crop=(20, 16), max_items=3)
    assert len(ds) == 3
    assert all(it.data.shape == (20, 16, 3) for it in ds)
    top = get_dataset("folder", path=d, recursive=False, kind="image")
    assert [it.name for it in top] == NAMES[:8] and {it.group for it in top} == {""}
    with pytest.raises(ValueError, match="no video files"):
        get_dataset("folder", path=d, kind="video")
    with pytest.raises(ValueError, match="kind"):
        get_dataset("folder", path=d, kind="audio")


def test_item_group_is_optional():
    it = Item("x", lambda: np.zeros((2, 2, 3), np.uint8))
    assert it.group is None and it.data.shape == (2, 2, 3)
    assert Item("y", lambda: np.zeros((2, 2, 3), np.uint8), None, group="g").group == "g"


def _ffmpeg(path: Path, frames: np.ndarray, args: list[str]) -> None:
    import imageio_ffmpeg

    t, h, w, _ = frames.shape
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "10", "-i", "-", *args, str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True, capture_output=True, timeout=60)


T = 6


def _bright_frames() -> np.ndarray:
    """Smooth frames whose brightness tells the frame index (survives lossy coding)."""
    base = _smooth().astype(int) // 4
    return np.stack([np.clip(base + 30 * t, 0, 255) for t in range(T)]).astype(np.uint8)


@pytest.fixture
def video_dir(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    d = tmp_path / "vids"
    (d / "lossless").mkdir(parents=True)
    smooth = _bright_frames()
    noise = np.random.default_rng(0).integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    _ffmpeg(d / "clip.mp4", smooth, ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-pix_fmt", "yuv444p"])
    _ffmpeg(d / "lossless" / "ffv1.mkv", noise, ["-c:v", "ffv1", "-pix_fmt", "bgr0"])
    _ffmpeg(d / "motion.avi", smooth, ["-c:v", "mjpeg", "-q:v", "2"])
    _ffmpeg(d / "raw.y4m", smooth, ["-pix_fmt", "yuv444p"])
    return d, smooth, noise


def test_videos_decode_names_and_lossless_ffv1(video_dir):
    d, smooth, noise = video_dir
    ds = get_dataset("folder", path=d, max_frames=None)
    assert ds.kind == "video"
    assert [it.name for it in ds] == ["clip", "lossless/ffv1", "motion", "raw"]
    assert [it.group for it in ds] == ["", "lossless", "", ""]
    for it in ds:
        assert it.data.dtype == np.uint8 and it.data.shape == (T, H, W, 3), it.name
        if it.name != "lossless/ffv1":
            assert np.abs(it.data.astype(int) - smooth).mean() < 4, it.name
    np.testing.assert_array_equal(ds[1].data, noise)


def test_videos_max_frames_start_frame_and_geometry(video_dir):
    d, smooth, noise = video_dir
    ds = get_dataset("folder", path=d, max_frames=2, start_frame=3, crop=(16, 20))
    lossless = ds[1].data
    assert lossless.shape == (2, 16, 20, 3)
    top, left = (H - 16) // 2, (W - 20) // 2
    np.testing.assert_array_equal(lossless, noise[3:5, top : top + 16, left : left + 20])
    for it in (ds[0], ds[2], ds[3]):
        means = it.data.reshape(2, -1).mean(1)
        want = smooth[3:5, top : top + 16, left : left + 20].reshape(2, -1).mean(1)
        np.testing.assert_allclose(means, want, atol=3)
    assert get_dataset("folder", path=d)[1].data.shape[0] == T  # default max_frames 16 > T
    assert get_dataset("folder", path=d, max_frames=4)[1].data.shape[0] == 4
    with pytest.raises(ValueError, match="max_frames"):
        get_dataset("folder", path=d, max_frames=0)
    with pytest.raises(ValueError, match="start_frame"):
        get_dataset("folder", path=d, start_frame=-1)
    with pytest.raises(ValueError, match="starting at frame"):
        get_dataset("folder", path=d, start_frame=T)[0].data


def test_mixed_folder_needs_kind(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    Image.fromarray(_rgb(0)).save(d / "pic.png")
    _ffmpeg(d / "vid.mkv", _bright_frames()[:2], ["-c:v", "ffv1"])
    with pytest.raises(ValueError) as e:
        get_dataset("folder", path=d)
    assert str(d.resolve()) in str(e.value) and 'kind="image"' in str(e.value) and 'kind="video"' in str(e.value)
    im = get_dataset("folder", path=d, kind="image")
    assert im.kind == "image" and [it.name for it in im] == ["pic"]
    vid = get_dataset("folder", path=d, kind="video")
    assert vid.kind == "video" and [it.name for it in vid] == ["vid"] and vid[0].data.shape == (2, H, W, 3)


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=re.escape(str(empty.resolve()))):
        get_dataset("folder", path=empty)
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("x")
    Image.fromarray(_rgb(0)).save(other / ".hidden.png")
    with pytest.raises(ValueError, match=re.escape(str(other.resolve()))):
        get_dataset("folder", path=other)
    with pytest.raises(ValueError, match="missing_dir"):
        get_dataset("folder", path=tmp_path / "missing_dir")
    with pytest.raises(ValueError, match="a.txt"):
        get_dataset("folder", path=other / "a.txt")
    with pytest.raises(ValueError, match="folder:DIR"):
        get_dataset("folder")


def test_symlinked_subfolders_are_followed_once_without_looping(tmp_path):
    """Cluster layouts link data folders in: followed; a link loop or a second link to the same
    folder does not walk forever or list the images twice."""
    data = tmp_path / "store" / "shots"
    data.mkdir(parents=True)
    Image.fromarray(_rgb(1)).save(data / "p.png")
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked").symlink_to(data, target_is_directory=True)
    (root / "again").symlink_to(data, target_is_directory=True)
    (data / "loop").symlink_to(root, target_is_directory=True)
    Image.fromarray(_rgb(2)).save(root / "own.png")
    ds = get_dataset("folder", path=root)
    names = [it.name for it in ds]
    assert sorted(names) in (["again/p", "own"], ["linked/p", "own"])
    assert np.array_equal(ds[[it.name for it in ds].index("own")].data, _rgb(2))


def test_corrupt_files_named_on_load(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    Image.fromarray(_rgb(0)).save(d / "good.png")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 20)
    ds = get_dataset("folder", path=d)
    assert ds[1].data.shape == (H, W, 3)  # good.png loads; broken.png is only read on access
    with pytest.raises(ValueError, match="broken.png"):
        ds[0].data
    v = tmp_path / "badvid"
    v.mkdir()
    (v / "broken.mp4").write_bytes(b"garbage" * 30)
    dv = get_dataset("folder", path=v)
    with pytest.raises(ValueError, match="broken.mp4"):
        dv[0].data


def test_parse_dataset_arg():
    assert parse_dataset_arg("photos") == ("photos", {})
    assert parse_dataset_arg("folder:/data/x") == ("folder", {"path": "/data/x"})
    assert parse_dataset_arg("folder:rel/dir:with:colons") == ("folder", {"path": "rel/dir:with:colons"})
    for bad in ("folder:", "folder:  ", "", "photos:x"):
        with pytest.raises(ValueError):
            parse_dataset_arg(bad)


def test_codec_cli_on_folder(image_dir, capsys):
    from semlink.cli import main

    d, _ = image_dir
    assert main(["codec", "jpeg", "--dataset", f"folder:{d}", "--quality", "50", "--perceptual", "none",
                 "--max-items", "4"]) == 0
    out = capsys.readouterr().out
    assert f"dataset folder:{d}" in out and "mean" in out
    for name in NAMES[:4]:
        assert f"\n{name} " in out
    assert main(["codec", "jpeg", "--dataset", "folder:"]) == 2
    assert "folder:" in capsys.readouterr().err


def test_codec_cli_kind_mismatch(tmp_path, capsys):
    from semlink.cli import main

    d = tmp_path / "v"
    d.mkdir()
    _ffmpeg(d / "v.mkv", _bright_frames()[:2], ["-c:v", "ffv1"])
    assert main(["codec", "jpeg", "--dataset", f"folder:{d}", "--perceptual", "none"]) == 2
    assert "video" in capsys.readouterr().out


def test_rd_points_and_training_data_from_folder(image_dir):
    from semlink.rd import rd_points
    from semlink.train.data import TrainingDataError, load_training_images

    d, _ = image_dir
    rows = rd_points(f"folder:{d}", {"jpeg": [("quality", 50)]}, max_items=2, progress=False)
    assert [r["item"] for r in rows] == ["a", "b"] and all(r["bpp"] > 0 for r in rows)
    rows = rd_points("folder", {"jpeg": [("quality", 50)]}, max_items=1, progress=False,
                     dataset_options={"path": str(d / "setA")})
    assert [r["item"] for r in rows] == ["img01"]
    imgs = load_training_images(f"folder:{d / 'setA'}")
    assert [im.name for im in imgs] == ["setA/img01", "setA/img02"]
    assert imgs[0].data.shape == (H, W, 3)
    with pytest.raises(TrainingDataError, match="nope"):
        load_training_images(f"folder:{d / 'nope'}")


def test_codecs_package_does_not_import_simulator():
    import semlink.codecs

    root = Path(semlink.codecs.__file__).parent
    for f in root.rglob("*.py"):
        text = f.read_text()
        assert "semlink.simulator" not in text and "from ..simulator" not in text, f
