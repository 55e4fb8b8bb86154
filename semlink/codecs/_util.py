"""Small helpers shared by the codecs: input validation, concealment, shape fitting."""

from __future__ import annotations

import numpy as np

from semlink.errors import ConfigError, StreamError

#: Value of a concealed (undecodable) pixel: mid-grey.
CONCEAL_VALUE = 128


def validate_image(item: np.ndarray) -> np.ndarray:
    """Check an image item: uint8 [H, W, 3] -> C-contiguous copy-free view.

    Raises:
        ValueError: wrong dtype / shape.
    """
    arr = np.asarray(item)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise ConfigError(f"image must be uint8 [H, W, 3], got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def validate_video(item: np.ndarray) -> np.ndarray:
    """Check a video item: uint8 [T, H, W, 3] with T >= 1."""
    arr = np.asarray(item)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3 or min(arr.shape[:3]) < 1:
        raise ConfigError(f"video must be uint8 [T, H, W, 3], got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def grey(shape: tuple[int, ...]) -> np.ndarray:
    """Concealment: a mid-grey (128) uint8 array of ``shape``."""
    return np.full(shape, CONCEAL_VALUE, dtype=np.uint8)


def fit_to_shape(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Crop / pad (with mid-grey) the leading spatial axes of ``arr`` to ``shape``.

    Works for [H, W, 3] and [T, H, W, 3]; extra frames are dropped, missing ones grey.
    """
    out = grey(shape)
    region = tuple(slice(0, min(a, b)) for a, b in zip(arr.shape, shape))
    out[region] = arr[region]
    return out


def to_rgb_uint8(arr: np.ndarray) -> np.ndarray:
    """Turn a decoded array (grey [H, W], [H, W, 1], RGBA [H, W, 4], 16-bit) into uint8 [H, W, 3]."""
    arr = np.asarray(arr)
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.uint32) * 255 + 32767) // 65535
    arr = arr.astype(np.uint8, copy=False)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def one_rate(rate: dict, allowed: tuple[str, ...]) -> tuple[str | None, float | None]:
    """Pick the single rate keyword given to ``encode``.

    Returns ``(None, None)`` when none is given (the codec's default quality applies).

    Raises:
        ValueError: more than one, or one the codec does not know.
    """
    given = {k: v for k, v in rate.items() if v is not None}
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown rate keyword(s) {unknown}; this codec accepts one of {list(allowed)}")
    if len(given) > 1:
        raise ConfigError(f"give exactly one rate keyword, got {sorted(given)}")
    if not given:
        return None, None
    (key, value), = given.items()
    if not np.isfinite(value):
        raise ConfigError(f"{key} must be finite, got {value!r}")
    if key in ("bpp", "bitrate", "bcr") and value <= 0:
        raise ConfigError(f"{key} must be > 0, got {value!r}")
    return key, float(value)


#: Keyword arguments a runner may pass to every ``encode`` that classical codecs ignore
#: (channel state for channel-adaptive codecs).
CONTEXT_KEYS = ("snr_db", "channel_state")


def check_context(extra: dict) -> None:
    """Reject unknown ``encode`` keywords (so a misspelt or wrong-kind rate is not ignored)."""
    unknown = sorted(set(extra) - set(CONTEXT_KEYS))
    if unknown:
        raise ConfigError(f"unknown encode keyword(s) {unknown}; context keywords accepted: {list(CONTEXT_KEYS)}")


#: What a decoder does with a damaged part (``on_loss`` codec option; classical codecs default to
#: "decode", the learned ones to "conceal").
ON_LOSS = ("decode", "conceal")


def check_on_loss(value: str) -> str:
    if value not in ON_LOSS:
        raise ConfigError(f"on_loss must be one of {list(ON_LOSS)}, got {value!r}")
    return value


def lost_parts_reason(part_ok: dict[str, np.ndarray], what: str = "concealed") -> str:
    """``"3 of 12 packets lost (y); concealed"``: the reason of a concealment, from the
    per-part CRC flags (part name -> bool [num_packets])."""
    lost = {k: int((~np.asarray(v, bool)).sum()) for k, v in part_ok.items()}
    total = sum(len(v) for v in part_ok.values())
    names = ", ".join(k for k, n in lost.items() if n)
    return f"{sum(lost.values())} of {total} packets lost ({names}); {what}"


# --------------------------------------------------------------------------- header varints
def write_varint(n: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, low bits first, high bit set on every byte but the last."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf: bytes, pos: int, max_bytes: int = 5) -> tuple[int, int]:
    """(value, next position) of the unsigned LEB128 varint at ``buf[pos]``; ValueError when it is
    truncated or longer than ``max_bytes`` (a header field of a damaged stream)."""
    n = shift = 0
    for i in range(max_bytes):
        if pos + i >= len(buf):
            raise StreamError("header truncated")
        b = buf[pos + i]
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos + i + 1
    raise StreamError("header varint too long")


def padded_tensor(image: np.ndarray, multiple: int):
    """uint8 [H, W, 3] -> float32 tensor [1, 3, Hp, Wp] in [0, 1], edge-replicated up to multiples of
    ``multiple`` (the input of a learned codec whose latents are ``multiple`` times smaller)."""
    import torch
    import torch.nn.functional as F

    h, w, _ = image.shape
    hp, wp = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    x = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None].float().div_(255.0)
    if (hp, wp) != (h, w):
        x = F.pad(x, (0, wp - w, 0, hp - h), mode="replicate")
    return x


def tensor_image(x, h: int, w: int) -> np.ndarray:
    """float tensor [1, 3, >=h, >=w] (raw decoder output) -> uint8 [h, w, 3]: NaN/inf cleaned, clipped
    to [0, 1], rounded; the padding cropped off."""
    import torch

    x = torch.nan_to_num(x.float(), nan=0.5, posinf=1.0, neginf=0.0).clamp(0, 1)
    return np.ascontiguousarray((x[0, :, :h, :w].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8))


def pack_fields(version: int, quality: int, values, max_quality: int = 31) -> bytes:
    """A stream header: one byte ``version << 5 | quality`` (quality 1..31), then unsigned
    LEB128 varints (sizes, part lengths)."""
    if not 1 <= quality <= max_quality:
        raise ConfigError(f"quality id must be in [1, {max_quality}], got {quality}")
    return bytes([(version << 5) | quality]) + b"".join(write_varint(v) for v in values)


def unpack_fields(buf: bytes, version: int, count: int) -> tuple[int, list[int]]:
    """(quality, ``count`` varints) of a :func:`pack_fields` header; StreamError when malformed
    (empty, another version, truncated, trailing bytes)."""
    if not buf:
        raise StreamError("empty header")
    got, quality = buf[0] >> 5, buf[0] & 0x1F
    if got != version:
        raise StreamError(f"unknown header version {got}")
    vals, pos = [], 1
    for _ in range(count):
        v, pos = read_varint(buf, pos)
        vals.append(v)
    if pos != len(buf):
        raise StreamError(f"header has {len(buf) - pos} trailing bytes")
    return quality, vals
