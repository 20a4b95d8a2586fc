"""Reading a source's video packet timestamps and keyframes (demux only, nothing decoded),
and counting the frames of an encoded file. Blocking: call through ``asyncio.to_thread``.

The timeline is read only up to the packets the declared duration allows (fps x duration x
1.1): a file with more is not one a split can plan for. Timestamps are kept as machine
numbers in arrays (8 bytes a frame, not a Python object per frame): six hours at 60 fps is
1.3 M frames, about 10 MB.
"""

from __future__ import annotations

import heapq
import itertools
from array import array
from collections.abc import Iterable
from typing import Any

import av
import av.packet

from services.core.media.containers import protocols_for
from services.core.media.limits import SPAN_TOLERANCE
from services.transcoder.split.planning import Timeline

# Packets arrive in decode order: B-frames put presentation times out of order only within a
# few packets, so a small heap sorts them as they come (a full sort if a file does worse).
_REORDER_WINDOW = 64
# Presentation times are packed with the keyframe flag in the lowest bit of one int64.
_LARGEST_PTS = 2**61


class TimelineRefused(Exception):
    """The packets are not a timeline a split can use: ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def max_packets(fps: float | None, duration_s: float | None) -> int | None:
    """How many video packets a source declaring ``fps`` and ``duration_s`` may have."""
    if not fps or not duration_s:
        return None
    return int(fps * duration_s * (1 + SPAN_TOLERANCE)) + 1


def read_timeline(path: str, demuxer: str, limit: int | None = None) -> Timeline:
    """Presentation times (seconds from the input's start) and keyframes of the first video
    stream; the input's start is the container's start time, as ffmpeg counts ``t``. Raises
    :class:`TimelineRefused` past ``limit`` packets (see :func:`max_packets`)."""
    fence = {"protocol_whitelist": protocols_for(path)}
    with av.open(path, mode="r", format=demuxer, container_options=fence) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "ALL"
        base = stream.time_base
        assert base is not None
        tick = float(base)
        origin = (container.start_time or 0) / av.time_base
        packed, missing = _packets(container.demux(stream), limit)
    times = array("d", ((value >> 1) * tick - origin for value in packed))
    keyframes = array("q", (i for i, value in enumerate(packed) if value & 1))
    return Timeline(times, keyframes, tick, missing)


def _packets(
    packets: Iterable[av.packet.Packet[Any]], limit: int | None
) -> tuple[array[int], bool]:
    """``pts << 1 | keyframe`` of each packet in presentation order, and whether some had none."""
    ordered: array[int] = array("q")
    window: list[int] = []
    missing = False
    count = 0
    for packet in packets:
        if packet.size == 0:
            continue  # the flush packet
        if packet.pts is None:
            missing = True
            continue
        count += 1
        if limit is not None and count > limit:
            raise TimelineRefused(f"more than {limit} video packets for the declared duration")
        if abs(packet.pts) >= _LARGEST_PTS:
            raise TimelineRefused("timestamps out of range")
        heapq.heappush(window, packet.pts << 1 | bool(packet.is_keyframe))
        if len(window) > _REORDER_WINDOW:
            ordered.append(heapq.heappop(window))
    while window:
        ordered.append(heapq.heappop(window))
    if any(a > b for a, b in itertools.pairwise(ordered)):
        ordered = array("q", sorted(ordered))
    return ordered, missing


def count_frames(path: str) -> int:
    """Video packets of an encoded file (one per frame for the codecs we write)."""
    fence = {"protocol_whitelist": "file"}
    with av.open(path, mode="r", container_options=fence) as container:
        stream = container.streams.video[0]
        return sum(1 for p in container.demux(stream) if p.size > 0)
