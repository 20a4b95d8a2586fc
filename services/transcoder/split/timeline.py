"""Reading a source's video packet timestamps and keyframes (demux only, nothing decoded),
and counting the frames of an encoded file. Blocking: call through ``asyncio.to_thread``."""

from __future__ import annotations

import av

from services.core.media.containers import protocols_for
from services.transcoder.split.planning import Timeline


def read_timeline(path: str, demuxer: str) -> Timeline:
    """Presentation times (seconds from the input's start) and keyframes of the first video
    stream; the input's start is the container's start time, as ffmpeg counts ``t``."""
    fence = {"protocol_whitelist": protocols_for(path)}
    with av.open(path, mode="r", format=demuxer, container_options=fence) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "ALL"
        base = stream.time_base
        assert base is not None
        tick = float(base)
        origin = (container.start_time or 0) / av.time_base
        found: list[tuple[int, bool]] = []
        missing = False
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the flush packet
            if packet.pts is None:
                missing = True
                continue
            found.append((packet.pts, packet.is_keyframe))
    found.sort()
    times = tuple(pts * tick - origin for pts, _key in found)
    keyframes = tuple(i for i, (_pts, key) in enumerate(found) if key)
    return Timeline(times, keyframes, tick, missing)


def count_frames(path: str) -> int:
    """Video packets of an encoded file (one per frame for the codecs we write)."""
    fence = {"protocol_whitelist": "file"}
    with av.open(path, mode="r", container_options=fence) as container:
        stream = container.streams.video[0]
        return sum(1 for p in container.demux(stream) if p.size > 0)
