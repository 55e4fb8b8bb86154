"""Offline datasets: photos, clips, the optional vc2 set, geometry, and the data/codec CLIs."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pytest

from semlink.data import DatasetUnavailable, Geometry, get_dataset, list_datasets
from semlink.data.fetch import fetch_command
from semlink.data.vc2 import read_vc2_raw


def test_registry() -> None:
    assert {"photos", "clips", "vc2"} <= set(list_datasets())
    with pytest.raises(ValueError, match="unknown dataset .*; known: .*photos"):
        get_dataset("kodak")


def test_photos_are_rgb_uint8() -> None:
    ds = get_dataset("photos")
    assert ds.kind == "image" and ds.licence and len(ds) == 7
    shapes = {}
    for item in ds:
        assert item.data.dtype == np.uint8 and item.data.ndim == 3 and item.data.shape[2] == 3
        shapes[item.name] = item.data.shape
    assert shapes["astronaut"] == (512, 512, 3) and shapes["chelsea"] == (300, 451, 3)


def test_geometry_is_deterministic_and_validated() -> None:
    a = get_dataset("photos", size=100, crop=(64, 80), max_items=2)
    b = get_dataset("photos", size=100, crop=(64, 80), max_items=2)
    assert len(a) == 2 and all(x.data.shape == (64, 80, 3) for x in a)
    assert all(np.array_equal(x.data, y.data) for x, y in zip(a, b))
    assert get_dataset("photos", size=(50, 70), max_items=1)[0].data.shape == (50, 70, 3)
    with pytest.raises(ValueError, match="size"):
        Geometry(size=0)
    with pytest.raises(ValueError, match="crop"):
        Geometry(crop="big")
    with pytest.raises(ValueError, match="larger than the image"):
        get_dataset("photos", crop=2000, max_items=1)[0].data
    with pytest.raises(ValueError, match="max_items"):
        get_dataset("photos", max_items=0)


def test_clips_decode_with_frame_limit_and_crop() -> None:
    ds = get_dataset("clips", max_frames=4, size=96, crop=64)
    assert ds.kind == "video" and [i.name for i in ds] == ["bikes", "bigbuckbunny", "carphone"]
    for item in ds:
        assert item.data.shape == (4, 64, 64, 3) and item.data.dtype == np.uint8
    carphone = get_dataset("clips", max_frames=2)[2].data
    assert carphone.shape == (2, 144, 176, 3)
    with pytest.raises(ValueError, match="max_frames"):
        get_dataset("clips", max_frames=0)


def test_missing_vc2_package_is_named(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "vc2_conformance_data", None)  # import now fails
    with pytest.raises(DatasetUnavailable, match="vc2-conformance-data.*pip install vc2-conformance-data"):
        get_dataset("vc2")
    assert fetch_command("vc2")[-3:] == ["pip", "install", "vc2-conformance-data"]
    with pytest.raises(ValueError, match="ships with the default install"):
        fetch_command("photos")


def test_vc2_raw_reader_planes_are_g_b_r(tmp_path) -> None:
    h, w = 4, 6
    g, b, r = (np.full((h, w), v, "<u2") for v in (65535, 0, 32896))
    (tmp_path / "pic.raw").write_bytes(np.concatenate([g, b, r]).tobytes())
    vp = {"frame_width": w, "frame_height": h, "color_diff_format_index": 0, "color_matrix_index": 3,
          "luma_excursion": 65535, "color_diff_excursion": 65535}
    (tmp_path / "pic.json").write_text(json.dumps({"video_parameters": vp, "picture_coding_mode": 0, "picture_number": "0"}))
    rgb = read_vc2_raw(tmp_path / "pic.raw")
    assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (128, 255, 0)


def _cli() -> argparse.ArgumentParser:
    from semlink.simulator import codec_cli
    from semlink.data import cli as data_cli

    parser = argparse.ArgumentParser(prog="semlink")
    sub = parser.add_subparsers(dest="command", required=True)
    codec_cli.register(sub)
    data_cli.register(sub)
    return parser


def test_data_list_cli(capsys) -> None:
    args = _cli().parse_args(["data", "list"])
    assert args.func(args) == 0
    assert "photos" in capsys.readouterr().out


def test_codec_cli_prints_table(capsys) -> None:
    args = _cli().parse_args(["codec", "webp", "--bpp", "0.5", "--max-items", "2", "--size", "192", "--perceptual", "none"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "astronaut" in out and "chelsea" in out and "mean" in out and "psnr_db" in out
    args = _cli().parse_args(["codec", "nope"])
    assert args.func(args) == 2
