"""Hostile and broken uploads, made from a real clip by byte surgery on its MP4 boxes."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset, size) of the MP4 boxes in ``data[start:end]``, descending into moov/trak."""
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[at + 8 : at + 16])[0]
            header = 16
        elif size == 0:
            size = end - at
        if size < header:
            return
        yield kind, at, size
        if kind in (b"moov", b"trak", b"mdia", b"edts"):
            yield from boxes(data, at + header, at + size)
        at += size


def corrupt_frames(data: bytes) -> bytes:
    """Headers intact, every byte of the media data replaced by noise."""
    out = bytearray(data)
    for kind, at, size in boxes(data):
        if kind == b"mdat":
            out[at + 8 : at + size] = os.urandom(size - 8)
    return bytes(out)


def claims_hours(data: bytes, hours: int = 4) -> bytes:
    """The movie, track and media headers claim ``hours``; the frames are what they were."""
    out = bytearray(data)
    movie_scale = 1000
    for kind, at, _size in boxes(data):
        body = at + 8
        if data[body] != 0:  # only version 0 headers (what ffmpeg writes for short clips)
            continue
        if kind == b"mvhd":
            movie_scale = struct.unpack(">I", data[body + 12 : body + 16])[0]
            struct.pack_into(">I", out, body + 16, movie_scale * 3600 * hours)
        elif kind == b"tkhd":
            struct.pack_into(">I", out, body + 20, movie_scale * 3600 * hours)
        elif kind == b"elst":
            for entry in range(struct.unpack(">I", data[body + 4 : body + 8])[0]):
                struct.pack_into(">I", out, body + 8 + 12 * entry, movie_scale * 3600 * hours)
        elif kind == b"mdhd":
            scale = struct.unpack(">I", data[body + 12 : body + 16])[0]
            struct.pack_into(">I", out, body + 16, scale * 3600 * hours)
    return bytes(out)


def mkv_claims_hours(data: bytes, hours: int = 4) -> bytes:
    """A Matroska file whose Segment Info ``Duration`` (ms at the default scale) says ``hours``."""
    at = data.find(b"\x44\x89\x88")  # Duration element, 8-byte float
    assert at > 0, "no 8-byte Duration element"
    return data[: at + 3] + struct.pack(">d", hours * 3600 * 1000.0) + data[at + 11 :]
