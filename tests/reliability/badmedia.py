"""Hostile and broken uploads, made from a real clip by byte surgery on its MP4 boxes (or its
Matroska elements), or muxed by real ffmpeg with timestamps no camera would write."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

from tests.support import media


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
    return mkv_claims_seconds(data, hours * 3600.0)


def mkv_claims_seconds(data: bytes, seconds: float) -> bytes:
    """A Matroska file whose Segment Info ``Duration`` says ``seconds``."""
    at = data.find(b"\x44\x89\x88")  # Duration element, 8-byte float
    assert at > 0, "no 8-byte Duration element"
    return data[: at + 3] + struct.pack(">d", seconds * 1000.0) + data[at + 11 :]


def mkv_frames_far_apart(path: Path, *, hours: float = 20, frames: int = 6) -> Path:
    """A few KB of Matroska that says it lasts 2 s but whose ``frames`` (keyframes, 64x48) are
    spread evenly over ``hours``: a constant-rate encode of it would be hours of video."""
    gap_s = hours * 3600 / (frames - 1)
    raw = path.with_name(f"{path.stem}-raw.mkv")
    media.ffmpeg(
        *("-f", "lavfi", "-i", "testsrc=size=64x48:rate=1", "-frames:v", str(frames)),
        *("-vf", f"setpts=N*{gap_s:g}/TB", "-fps_mode", "passthrough"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-g", "1", "-pix_fmt", "yuv420p"),
        str(raw),
    )
    path.write_bytes(mkv_claims_seconds(raw.read_bytes(), 2.0))
    raw.unlink()
    return path


def corrupt_after_first_frame(data: bytes) -> bytes:
    """An MP4 (one video track) whose first frame decodes and every later byte is noise: a
    probe that decodes one frame accepts it, a full decode fails."""
    at = data.find(b"stsz")
    assert at > 0, "no sample size table"
    first = struct.unpack(">I", data[at + 16 : at + 20])[0]  # version/flags, size, count, [0]
    out = bytearray(data)
    for kind, start, size in boxes(data):
        if kind == b"mdat":
            keep = start + 8 + first
            out[keep : start + size] = os.urandom(start + size - keep)
    return bytes(out)
