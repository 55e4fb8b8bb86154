"""Read one file out of the container formats some offline corpus sources ship their photos in.

* Qt resource bundles (``.rcc``, magic ``qres``, format versions 1-3): a tree of named entries,
  each stored raw or zlib-compressed (GCompris ships its activity photos this way, as WebP).
* EET files (``.edj`` / ``.eet``, magic ``0x1ee70f42``): Enlightenment's key/value archives;
  its wallpaper themes hold the photograph as a plain JPEG under ``edje/images/N``.

Only what the corpus needs: list the entry names, extract one entry's bytes. A malformed file
raises :class:`ContainerError` naming the file.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from semlink.errors import ConfigError


class ContainerError(ConfigError):
    """A container file is malformed, or lacks the entry asked for."""


def _rcc_entries(data: bytes, path: str) -> dict[str, tuple[int, int]]:
    """Qt rcc: name -> (offset of the stored record, flags)."""
    if data[:4] != b"qres":
        raise ContainerError(f"{path}: not a Qt resource bundle (no 'qres' magic)")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    if version not in (1, 2, 3):
        raise ContainerError(f"{path}: Qt resource format version {version} is not supported")
    node = 14 if version == 1 else 22

    def name_at(off: int) -> str:
        (n,) = struct.unpack(">H", data[names + off:names + off + 2])
        return data[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")

    out: dict[str, tuple[int, int]] = {}
    stack = [(0, "")]
    seen = 0
    while stack:
        i, prefix = stack.pop()
        seen += 1
        if seen > 1_000_000:
            raise ContainerError(f"{path}: resource tree does not end")
        p = tree + i * node
        name_off, flags = struct.unpack(">IH", data[p:p + 6])
        name = name_at(name_off) if i else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", data[p + 6:p + 14])
            for c in range(first, first + count):
                stack.append((c, f"{prefix}{name}/" if i else ""))
        else:
            (data_off,) = struct.unpack(">I", data[p + 10:p + 14])
            out[prefix + name] = (payload + data_off, flags)
    return out


def rcc_names(path: str | Path) -> list[str]:
    """Entry names of a Qt resource bundle (paths with '/')."""
    return sorted(_rcc_entries(Path(path).read_bytes(), str(path)))


def _locate(path, entry: str, index) -> tuple[bytes, tuple]:
    """(the file's bytes, where ``entry`` is) by the container's ``index(data, path)``."""
    data = Path(path).read_bytes()
    entries = index(data, str(path))
    if entry not in entries:
        raise ContainerError(f"{path}: no entry {entry!r}")
    return data, entries[entry]


def rcc_read(path: str | Path, entry: str) -> bytes:
    """The bytes of ``entry`` in a Qt resource bundle (zlib entries inflated)."""
    data, (off, flags) = _locate(path, entry, _rcc_entries)
    (size,) = struct.unpack(">I", data[off:off + 4])
    raw = data[off + 4:off + 4 + size]
    if flags & 1:  # zlib, behind a 4-byte uncompressed length
        return zlib.decompress(raw[4:])
    if flags & 4:
        raise ContainerError(f"{path}: entry {entry!r} is zstd-compressed (not supported)")
    return raw


EET_MAGIC = 0x1EE70F42


def _eet_entries(data: bytes, path: str) -> dict[str, tuple[int, int, int, int]]:
    """EET: name -> (offset, stored size, data size, flags)."""
    if len(data) < 12:
        raise ContainerError(f"{path}: too short for an EET file")
    magic, n_dir, _ = struct.unpack(">III", data[:12])
    if magic != EET_MAGIC:
        raise ContainerError(f"{path}: not an EET file (magic {magic:#x})")
    out = {}
    for i in range(n_dir):
        off, size, dsize, noff, nsize, flags = struct.unpack(">6I", data[12 + 24 * i:36 + 24 * i])
        name = data[noff:noff + nsize].rstrip(b"\0").decode("utf-8", "replace")
        out[name] = (off, size, dsize, flags)
    return out


def eet_names(path: str | Path) -> list[str]:
    return sorted(_eet_entries(Path(path).read_bytes(), str(path)))


def eet_read(path: str | Path, entry: str) -> bytes:
    """The bytes of ``entry`` in an EET file (zlib entries inflated; lz4 ones refused)."""
    data, (off, size, dsize, flags) = _locate(path, entry, _eet_entries)
    raw = data[off:off + size]
    if flags & 1:
        try:
            return zlib.decompress(raw)
        except zlib.error:
            raise ContainerError(f"{path}: entry {entry!r} is compressed with a codec other than zlib") from None
    return raw
