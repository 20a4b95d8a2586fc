"""How much a source may ask of the machine: size, frame rate, duration, streams.

Pure: no I/O. The probe checks these from the headers *before* decoding a frame, so a
few-kilobyte file that declares 30000x30000 pixels or 100 hours is refused without
allocating what it asks for. Each limit is named after the variable that sets it.

A header can also understate: a file that declares 2 s may hold frames 20 h apart. So the
declared duration bounds the work (:func:`allowed_seconds`: every ffmpeg output stops there)
and the worker compares it with the span its packets really cover (:func:`check_span`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# What FFmpeg and its libraries print when an allocation, a thread or its stack fails (under
# RLIMIT_AS a decoder's failed frame allocation surfaces as "invalid data": this says why)
OUT_OF_MEMORY_SIGNS = (
    "Cannot allocate memory",
    "malloc of size",
    "get_buffer() failed",
    "pthread_create() failed",
    "Resource temporarily unavailable",
    "bad_alloc",
    "out of memory",
)


@dataclass(frozen=True)
class MediaLimits:
    """The caps; the defaults are the documented safe ones."""

    max_pixels: int = 7680 * 4320  # 8K UHD
    max_fps: float = 240.0
    max_duration_s: float = 6 * 3600.0
    max_streams: int = 16


SPAN_TOLERANCE = 0.1
"""How far (a fraction of the declared duration) a source's packets may run past it..."""
SPAN_SLACK_S = 1.0
"""...plus this (a last frame's duration, audio priming, rounding in the header)."""


def allowed_seconds(declared_s: float) -> float:
    """The most media seconds a source that declares ``declared_s`` may yield."""
    return declared_s * (1 + SPAN_TOLERANCE) + SPAN_SLACK_S


def frame_cap(seconds: float, fps: float) -> int:
    """The most frames ``seconds`` of declared media at ``fps`` may yield (with the margin)."""
    return math.ceil(allowed_seconds(seconds) * fps) + 1


@dataclass(frozen=True)
class LimitExceeded:
    """Which limit a source breaks (``variable`` sets it) and a readable message."""

    code: str
    variable: str
    message: str


def check(
    limits: MediaLimits,
    *,
    width: int,
    height: int,
    fps: float | None,
    duration_s: float | None,
    streams: int,
) -> LimitExceeded | None:
    """The first limit the declared properties break, or None."""
    if width * height > limits.max_pixels:
        return LimitExceeded(
            "too_many_pixels",
            "MAX_VIDEO_PIXELS",
            f"the video is {width}x{height} ({width * height} pixels); "
            f"at most {limits.max_pixels} pixels are accepted (MAX_VIDEO_PIXELS)",
        )
    if fps is not None and fps > limits.max_fps:
        return LimitExceeded(
            "frame_rate_too_high",
            "MAX_FRAME_RATE",
            f"the video declares {fps:g} frames per second; "
            f"at most {limits.max_fps:g} are accepted (MAX_FRAME_RATE)",
        )
    if duration_s is not None and duration_s > limits.max_duration_s:
        return LimitExceeded(
            "too_long",
            "MAX_DURATION",
            f"the video declares {duration_s:.0f} s; "
            f"at most {limits.max_duration_s:.0f} s are accepted (MAX_DURATION)",
        )
    if streams > limits.max_streams:
        return LimitExceeded(
            "too_many_streams",
            "MAX_STREAMS",
            f"the file has {streams} streams; at most {limits.max_streams} are accepted "
            "(MAX_STREAMS)",
        )
    return None


def check_span(
    limits: MediaLimits, declared_s: float | None, measured_s: float
) -> LimitExceeded | None:
    """Whether the span the packets cover (``measured_s``) breaks the declared duration (or,
    when none is declared, the longest accepted)."""
    if declared_s is None:
        if measured_s > limits.max_duration_s:
            return LimitExceeded(
                "too_long",
                "MAX_DURATION",
                f"the video's frames span {measured_s:.0f} s; "
                f"at most {limits.max_duration_s:.0f} s are accepted (MAX_DURATION)",
            )
        return None
    if measured_s > allowed_seconds(declared_s):
        return LimitExceeded(
            "duration_mismatch",
            "",
            f"the file says the video lasts {declared_s:g} s but its frames span at least "
            f"{measured_s:.0f} s: it is damaged or was altered; export it again",
        )
    return None
