"""Decoders never raise, hang or leave FFmpeg processes behind on damaged streams.

Seeded trials per codec, mixing: a few random bit flips, random bit errors at BER 1e-4..1e-2,
truncation at a random byte, byte-stuffing 0xFF into the header region, garbage and empty
input. Findings when written (3000 trials per image codec on 200x170 images, and the runs
below): no crash (segfault/abort) of libjpeg-turbo, OpenJPEG, libwebp or libde265 in-process,
so image decoding runs in-process; FFmpeg runs as a time-limited subprocess anyway.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import psutil
import pytest

from semlink.codecs import get_codec
from semlink.data import get_dataset

IMAGE_TRIALS = 300
VIDEO_TRIALS = 150


def damage(data: bytes, rng: np.random.Generator, mode: int) -> bytes:
    b = np.frombuffer(data, np.uint8).copy()
    if mode == 0:  # a few flipped bits anywhere
        k = int(rng.integers(1, 8))
        idx = rng.integers(0, len(b), k)
        b[idx] ^= (1 << rng.integers(0, 8, k)).astype(np.uint8)
    elif mode == 1:  # truncation
        b = b[: int(rng.integers(0, len(b)))]
    elif mode == 2:  # random bit errors
        bits = np.unpackbits(b)
        b = np.packbits(bits ^ (rng.random(bits.size) < 10 ** rng.uniform(-4, -2)))
    elif mode == 3:  # header region stomped
        b[rng.integers(0, min(len(b), 200), int(rng.integers(1, 4)))] = 0xFF
    elif mode == 4:  # garbage of random length
        b = rng.integers(0, 256, int(rng.integers(1, 2 * len(b))), dtype=np.uint8)
    else:
        b = b[:0]
    return b.tobytes()


def run_trials(name: str, item: np.ndarray, trials: int, seed: int, **rate) -> dict[bool, int]:
    codec = get_codec(name)
    enc = codec.encode(item, **rate)
    (part, data), = enc.parts.items()
    rng = np.random.default_rng(seed)
    outcome = {True: 0, False: 0}
    for i in range(trials):
        rec = codec.decode(dataclasses.replace(enc, parts={part: damage(data, rng, i % 6)}))
        assert rec.data.shape == item.shape and rec.data.dtype == np.uint8
        assert rec.decoded_ok or rec.reason
        outcome[rec.decoded_ok] += 1
    return outcome


@pytest.fixture(scope="module")
def small_image() -> np.ndarray:
    return np.ascontiguousarray(get_dataset("photos", size=64, max_items=1).items[0].data[:, :48])


@pytest.fixture(scope="module")
def small_clip() -> np.ndarray:
    img = get_dataset("photos", size=96, max_items=1).items[0].data
    return np.stack([img[i : 64 + i, 2 * i : 64 + 2 * i] for i in range(8)])


@pytest.mark.parametrize("name, rate", [("jpeg", 50), ("jpeg2000", 24), ("webp", 50), ("heic", 50), ("png", 9)])
def test_image_decoders_survive_damage(name: str, rate: int, small_image: np.ndarray) -> None:
    outcome = run_trials(name, small_image, IMAGE_TRIALS, seed=1, quality=rate)
    assert outcome[False] >= IMAGE_TRIALS // 6  # empty and garbage inputs at least fail cleanly


def children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.is_running()]


@pytest.mark.parametrize("name", ["h264", "h265"])
def test_video_decoders_survive_damage_without_leftover_processes(name: str, small_clip: np.ndarray) -> None:
    before = {p.pid for p in children()}
    outcome = run_trials(name, small_clip, VIDEO_TRIALS, seed=2, crf=30)
    assert outcome[False] >= VIDEO_TRIALS // 6
    assert {p.pid for p in children()} - before == set()


def test_video_decode_timeout_conceals_and_reaps(small_clip: np.ndarray) -> None:
    codec = get_codec("h264", timeout_s=1e-3)
    enc = get_codec("h264").encode(small_clip, crf=30)
    before = {p.pid for p in children()}
    rec = codec.decode(enc)
    assert rec.frames.shape == small_clip.shape
    if not rec.decoded_ok:  # the 1 ms limit normally expires before FFmpeg has output anything
        assert rec.reason
    assert {p.pid for p in children()} - before == set()


def test_truncated_video_repeats_last_frame(small_clip: np.ndarray) -> None:
    codec = get_codec("h264", intra_only=True)
    enc = codec.encode(small_clip, crf=30)
    data = enc.parts["bitstream"]
    rec = codec.decode(dataclasses.replace(enc, parts={"bitstream": data[: len(data) // 2]}))
    assert not rec.decoded_ok and "frames decoded" in rec.reason
    assert np.array_equal(rec.frames[-1], rec.frames[-2])


def test_wrong_size_header_is_fitted_and_flagged(small_image: np.ndarray) -> None:
    codec = get_codec("jpeg")
    enc = codec.encode(small_image, quality=80)
    other = dataclasses.replace(enc, shape=(small_image.shape[0] + 3, small_image.shape[1] - 5, 3))
    rec = codec.decode(other)
    assert not rec.decoded_ok and "size" in rec.reason and rec.image.shape == other.shape


def test_oversized_header_is_not_decoded(small_image: np.ndarray) -> None:
    codec = get_codec("png")
    big = codec.encode(np.zeros((400, 400, 3), np.uint8))
    rec = codec.decode(dataclasses.replace(big, shape=small_image.shape))
    assert not rec.decoded_ok and "not decoded" in rec.reason
    assert np.all(rec.image == 128)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jpeg", "jpeg2000", "webp", "heic", "h264", "h265"])
def test_many_more_trials(name: str, small_image: np.ndarray, small_clip: np.ndarray) -> None:
    video = name.startswith("h26")
    item = small_clip if video else small_image
    rate = {"crf": 30} if video else {"quality": get_codec(name).rate_points()[3]}
    run_trials(name, item, 500 if video else 3000, seed=7, **rate)
