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

ProbeErrorCode = Literal["empty", "not_found", "not_media", "no_video_stream", "undecodable"]

# A video decoder may need a few packets before its first frame (B-frames, frame threads).
_MAX_PACKETS_TO_FIRST_FRAME = 300
# Demuxers of single pictures: a PNG or JPEG is an image, not a video.
_IMAGE_FORMATS = frozenset({"image2", "image2pipe", "mpjpeg", "jpegxl_anim"})
# Text-art "video" demuxers read almost any bytes (by extension, e.g. .bin): not uploads' videos.
_TEXT_ART_FORMATS = frozenset({"bin", "xbin", "adf", "idf", "tty"})


class ProbeError(Exception):
    """The input is not a decodable video; ``message`` is readable by the person who sent it."""

    def __init__(self, code: ProbeErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ProbeErrorCode = code
        self.message = message

    def __reduce__(self) -> tuple[type[ProbeError], tuple[ProbeErrorCode, str]]:
        return ProbeError, (self.code, self.message)


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What probing found. Width and height are as displayed, i.e. after ``rotation``."""

    format_name: str
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

    def as_metadata(self) -> dict[str, Any]:
        """The JSON-ready subset stored as an event's ``source_metadata``."""
        keys = ("duration_s", "width", "height", "video_codec", "audio_codec", "fps", "bitrate")
        data = asdict(self)
        return {key: data[key] for key in keys}


def probe(path_or_url: str) -> MediaInfo:
    """Open ``path_or_url``, check it holds a decodable video, and describe it."""
    if "://" not in path_or_url:
        try:
            if os.path.getsize(path_or_url) == 0:
                raise ProbeError("empty", "the file is empty")
        except FileNotFoundError:
            raise ProbeError("not_found", "the file does not exist") from None
    try:
        container = av.open(path_or_url, mode="r", timeout=30.0)
    except av.error.FFmpegError as exc:
        raise ProbeError("not_media", f"not a media file ffmpeg recognises: {_why(exc)}") from None
    try:
        return _describe(container)
    finally:
        container.close()


def _describe(container: av.container.InputContainer) -> MediaInfo:
    format_name = container.format.name
    if format_name in _IMAGE_FORMATS or format_name.endswith("_pipe"):
        raise ProbeError("not_media", f"this is a still image ({format_name}), not a video")
    if format_name in _TEXT_ART_FORMATS:
        raise ProbeError("not_media", "not a video file (the bytes read as text art)")
    stream = _video_stream(container)
    if stream is None:
        what = "audio only" if container.streams.audio else "no video stream"
        raise ProbeError("no_video_stream", f"the file has no video to process ({what})")
    codec = stream.codec_context.name
    rotation = _first_frame_rotation(container, stream)
    width, height = stream.codec_context.width, stream.codec_context.height
    if rotation in (90, 270):
        width, height = height, width
    audio = container.streams.audio[0] if container.streams.audio else None
    rate = stream.average_rate or stream.guessed_rate
    return MediaInfo(
        format_name=format_name,
        duration_s=_duration(container, stream),
        width=width,
        height=height,
        video_codec=codec,
        audio_codec=audio.codec_context.name if audio is not None else None,
        fps=round(float(rate), 3) if rate else None,
        bitrate=container.bit_rate or None,
        rotation=rotation,
        has_video=True,
        has_audio=audio is not None,
    )


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
