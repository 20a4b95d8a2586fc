"""How far a source's packets really run: the end of its last packet, read without decoding.

A header's duration is only what the file claims (a 34 KB file can say 2 s and hold frames
20 h apart). The worker compares the two before it encodes (``limits.check_span``). Blocking:
call through ``asyncio.to_thread``. Cheap for an honest file: it seeks to a little before the
declared end and demuxes from there; a file whose packets run further stops the read at the
first packet past ``stop_after_s``.
"""

from __future__ import annotations

import av
import av.container
import av.error
import av.stream

from services.core.media.containers import protocols_for

# Read from this long before the declared end: the seek lands on a keyframe at or before it.
LOOKBACK_S = 10.0


def measure_span(
    path: str, demuxer: str, *, declared_s: float | None, stop_after_s: float
) -> float:
    """Seconds from the input's start to the end of the last packet of its first video and
    first audio stream (the ones encoded); at most a little past ``stop_after_s``."""
    fence = {"protocol_whitelist": protocols_for(path)}
    with av.open(path, mode="r", format=demuxer, container_options=fence) as container:
        origin = (container.start_time or 0) / av.time_base
        streams = _encoded(container)
        if declared_s is not None and declared_s > LOOKBACK_S:
            target = int((origin + declared_s - LOOKBACK_S) * av.time_base)
            try:
                container.seek(target, backward=True)
            except av.error.FFmpegError:  # not seekable: read it all (still no decoding)
                pass
        end = 0.0
        try:
            for packet in container.demux(streams):
                stamp = packet.pts if packet.pts is not None else packet.dts
                if packet.size == 0 or stamp is None or packet.time_base is None:
                    continue  # the flush packet, or one without a time
                end = max(end, (stamp + (packet.duration or 0)) * float(packet.time_base) - origin)
                if end > stop_after_s:
                    break
        except av.error.FFmpegError:
            pass  # a damaged tail: what was read counts; ffmpeg's caps bound the rest
    return end


def _encoded(container: av.container.InputContainer) -> list[av.stream.Stream]:
    streams: list[av.stream.Stream] = []
    for video in container.streams.video:
        if not video.disposition & av.stream.Disposition.attached_pic:
            streams.append(video)
            break
    streams.extend(container.streams.audio[:1])
    return streams
