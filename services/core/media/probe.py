"""Probing media with PyAV: is this a decodable video, and what is in it?

Used by ingest (refuse a non-video upload with 415 and :class:`ProbeError`'s message) and by
the transcoder (validate stage, source metadata). :func:`probe` is blocking: call it through
``asyncio.to_thread`` from async code. It decodes at least one video frame, so a file whose
header looks fine but whose video cannot be decoded is refused too.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

import av
import av.container
import av.error
import av.stream
import av.video.stream

from services.core.media.containers import FORMAT_WHITELIST, demuxer_of, protocols_for, refusal
from services.core.media.limits import MediaLimits, check

ProbeErrorCode = Literal[
    "empty",
    "not_found",
    "not_media",
    "format_not_allowed",
    "over_limit",
    "no_video_stream",
    "undecodable",
]

# A video decoder may need a few packets before its first frame (B-frames, frame threads).
_MAX_PACKETS_TO_FIRST_FRAME = 300


class ProbeError(Exception):
    """The input is not a decodable video; ``message`` is readable by the person who sent it."""

    def __init__(self, code: ProbeErrorCode, message: str, limit: str | None = None) -> None:
        super().__init__(message)
        self.code: ProbeErrorCode = code
        self.message = message
        self.limit = limit  # for "over_limit": which one (e.g. "too_many_pixels")

    def __reduce__(self) -> tuple[type[ProbeError], tuple[ProbeErrorCode, str, str | None]]:
        return ProbeError, (self.code, self.message, self.limit)


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What probing found. Width and height are as displayed, i.e. after ``rotation``."""

    format_name: str
    demuxer: str
    duration_s: float | None
    width: int
    height: int
    video_codec: str
    audio_codec: str | None
    fps: float | None
    bitrate: int | None
    rotation: int
    has_video: bool
    has_audio: bool
    streams: int = 1
    guessed_fps: float | None = None
    """ffmpeg's guess of the frame rate (what a constant-rate output runs at), when known."""

    def as_metadata(self) -> dict[str, Any]:
        """The JSON-ready subset stored as an event's ``source_metadata``."""
        keys = (
            "duration_s",
            "width",
            "height",
            "video_codec",
            "audio_codec",
            "fps",
            "bitrate",
            "demuxer",
            "streams",
        )
        data = asdict(self)
        return {key: data[key] for key in keys}


def probe(
    path_or_url: str, demuxer: str | None = None, limits: MediaLimits | None = None
) -> MediaInfo:
    """Open ``path_or_url``, check it holds a decodable video in an allowed container within
    ``limits``, and describe it. ``demuxer`` pins the container (found by an earlier probe)."""
    if "://" not in path_or_url:
        try:
            if os.path.getsize(path_or_url) == 0:
                raise ProbeError("empty", "the file is empty")
        except FileNotFoundError:
            raise ProbeError("not_found", "the file does not exist") from None
    limits = limits or MediaLimits()
    container = _open(path_or_url, demuxer, limits)
    try:
        return _describe(container, limits)
    finally:
        container.close()


def _open(
    path_or_url: str, demuxer: str | None, limits: MediaLimits
) -> av.container.InputContainer:
    """Open with the format pinned (or detection limited to the allow-list) and only the
    protocol the location needs: nothing the file names can be opened besides it."""
    fence = {"protocol_whitelist": protocols_for(path_or_url)}
    if demuxer is None:
        fence["format_whitelist"] = FORMAT_WHITELIST
    try:
        return av.open(
            path_or_url,
            mode="r",
            format=demuxer,
            container_options=fence,
            # the decoders that find_stream_info runs refuse to allocate a pixel bomb's frame,
            # and run single-threaded: each frame thread holds frames of its own
            options={"max_pixels": str(limits.max_pixels), "threads": "1"},
            timeout=30.0,
        )
    except av.error.ArgumentError as exc:  # EINVAL: what detection found is not on the list
        raise ProbeError("format_not_allowed", refusal(_refused_format(exc))) from None
    except av.error.FFmpegError as exc:
        raise ProbeError("not_media", f"not a media file ffmpeg recognises: {_why(exc)}") from None


def _refused_format(exc: av.error.FFmpegError) -> str | None:
    """The detected format FFmpeg's log names (only when PyAV's log level lets it through)."""
    log: Any = exc.log  # (level, component, message) at run time, whatever the stubs say
    if isinstance(log, tuple) and len(log) == 3 and "whitelist" in str(log[2]):
        return str(log[1])
    return None


def _describe(container: av.container.InputContainer, limits: MediaLimits) -> MediaInfo:
    format_name = container.format.name
    demuxer = demuxer_of(format_name)
    if demuxer is None:
        raise ProbeError("format_not_allowed", refusal(format_name))
    stream = _video_stream(container)
    if stream is None:
        what = "audio only" if container.streams.audio else "no video stream"
        raise ProbeError("no_video_stream", f"the file has no video to process ({what})")
    rate = stream.average_rate or stream.guessed_rate
    fps = round(float(rate), 3) if rate else None
    guessed = round(float(stream.guessed_rate), 3) if stream.guessed_rate else None
    width, height = stream.codec_context.width, stream.codec_context.height
    duration = _duration(container, stream)
    _within(limits, container, width, height, fps, duration)  # before decoding anything
    rotation = _first_frame_rotation(container, stream)
    if rotation in (90, 270):
        width, height = height, width
    audio = container.streams.audio[0] if container.streams.audio else None
    return MediaInfo(
        format_name=format_name,
        demuxer=demuxer,
        duration_s=duration,
        width=width,
        height=height,
        video_codec=stream.codec_context.name,
        audio_codec=audio.codec_context.name if audio is not None else None,
        fps=fps,
        bitrate=container.bit_rate or None,
        rotation=rotation,
        has_video=True,
        has_audio=audio is not None,
        streams=len(container.streams),
        guessed_fps=guessed,
    )


def _within(
    limits: MediaLimits,
    container: av.container.InputContainer,
    width: int,
    height: int,
    fps: float | None,
    duration: float | None,
) -> None:
    # the largest declared frame counts, whichever stream declares it
    for other in container.streams.video:
        pixels = other.codec_context.width * other.codec_context.height
        if pixels > width * height:
            width, height = other.codec_context.width, other.codec_context.height
    over = check(
        limits,
        width=width,
        height=height,
        fps=fps,
        duration_s=duration,
        streams=len(container.streams),
    )
    if over is not None:
        raise ProbeError("over_limit", over.message, over.code)


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first real video stream: cover art in an audio file does not count."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _first_frame_rotation(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> int:
    """Decode until the first frame; return its display rotation in degrees (0, 90...)."""
    # one decoder thread: frame threads (one per core by default) each hold a frame in flight
    stream.codec_context.thread_count = 1
    try:
        packets = 0
        for packet in container.demux(stream):
            packets += 1
            # The final (empty) packet flushes the decoder: short clips decode there.
            for frame in packet.decode():
                return round(frame.rotation) % 360
            if packets >= _MAX_PACKETS_TO_FIRST_FRAME:
                break
    except av.error.FFmpegError as exc:
        message = f"the video stream cannot be decoded: {_why(exc)}"
        raise ProbeError("undecodable", message) from None
    raise ProbeError("undecodable", "the video stream has no decodable frame")


def _duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    if container.duration is not None and container.duration > 0:
        return round(container.duration / av.time_base, 3)
    if stream.duration is not None and stream.time_base is not None:
        return round(float(stream.duration * stream.time_base), 3)
    return None


def _why(exc: av.error.FFmpegError) -> str:
    """FFmpeg's reason without the file name (a server path means nothing to the uploader)."""
    return str(exc.strerror or "unknown error").lower()
