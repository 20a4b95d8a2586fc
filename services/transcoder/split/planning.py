"""Whether to split a job into chunks, and where: a pure function of the options, the probed
source and its video packet timestamps. No I/O (the timeline is read by ``timeline.py``).

The rule (docs/transcoder.md): a source is split into chunks of about ``chunk_duration_s``
when it lasts at least ``min_duration_s``, has a constant frame rate with regular timestamps,
no keyframe gap longer than :func:`max_keyframe_gap`, and the options neither force a single
pass (``split: false``), change the frame rate (``fps``), fix a bitrate (``video_bitrate``: a
rate controller per chunk would miss it), trim, nor ask for audio only. Boundaries snap to a
source keyframe within a fifth of a chunk of the ideal point (cheap exact seeks); for HLS they
sit on the single pass's keyframe grid (every ``segment_s``) so the segment lists are equal.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.options import ProcessingOptions


@dataclass(frozen=True)
class SplitSettings:
    """The transcoder's split knobs (``CHUNK_DURATION``, ``SPLIT_MIN_DURATION``,
    ``CHUNKS_IN_FLIGHT``) and how often one chunk is tried."""

    chunk_duration_s: float = 60.0
    min_duration_s: float = 180.0
    chunks_in_flight: int = 8
    chunk_tries: int = 3


@dataclass(frozen=True)
class Timeline:
    """Video frames of a source in presentation order: seconds from the input's start."""

    times: Sequence[float]  # compact (``array('d')``) when read from a file
    keyframes: Sequence[int]  # frame indexes of source keyframes, ascending
    tick_s: float  # the stream's time base: timestamps are multiples of it
    missing_timestamps: bool = False


@dataclass(frozen=True)
class Chunk:
    """Frames ``[start_frame, start_frame + frames)`` of the source."""

    index: int
    start_frame: int
    frames: int
    start_s: float
    grid_offset_s: float | None = None


@dataclass(frozen=True)
class SplitPlan:
    """The chunks of a split attempt, covering every frame once."""

    chunks: tuple[Chunk, ...]
    frame_s: float
    total_frames: int


@dataclass(frozen=True)
class SinglePass:
    """Why the job runs as one ffmpeg pass; ``reason`` goes to the history."""

    reason: str
    detail: str = ""


REASONS = (
    "split_disabled",
    "audio_only",
    "fps_option",
    "video_bitrate",
    "trim",
    "too_short",
    "irregular_timestamps",
    "variable_frame_rate",
    "keyframe_gap",
    "single_chunk",
)


def max_keyframe_gap(chunk_duration_s: float) -> float:
    """Longest keyframe gap a split accepts: an exact seek decodes up to one gap for nothing."""
    return max(chunk_duration_s, 10.0)


def refuse_early(
    options: ProcessingOptions, duration_s: float | None, min_duration_s: float
) -> SinglePass | None:
    """The reasons known without reading the timeline (so short jobs never demux it)."""
    if not options.split:
        return SinglePass("split_disabled", 'option "split": false')
    if not options.has_video:
        return SinglePass("audio_only", "audio-only output")
    if options.fps is not None:
        return SinglePass("fps_option", "the fps option resamples frames across boundaries")
    if options.video_bitrate is not None:
        return SinglePass("video_bitrate", "a fixed bitrate needs one rate controller")
    if options.trim_start or options.trim_end is not None:
        return SinglePass("trim", "trimmed outputs run as one pass")
    if duration_s is None or duration_s < min_duration_s:
        return SinglePass("too_short", f"shorter than SPLIT_MIN_DURATION ({min_duration_s:g} s)")
    return None


def frame_duration(timeline: Timeline) -> float | SinglePass:
    """The constant frame duration, or why the timestamps do not have one."""
    times = timeline.times
    if timeline.missing_timestamps or len(times) < 2:
        return SinglePass("irregular_timestamps", "frames without timestamps")
    steps = [b - a for a, b in itertools.pairwise(times)]
    if min(steps) <= 0:
        return SinglePass("irregular_timestamps", "repeated timestamps")
    step = sorted(steps)[len(steps) // 2]
    tolerance = max(2 * timeline.tick_s, step * 0.005)
    worst = max(abs(s - step) for s in steps)
    if worst > tolerance:
        return SinglePass("variable_frame_rate", f"frame steps vary by {worst * 1000:.1f} ms")
    return step


def plan(
    options: ProcessingOptions,
    duration_s: float | None,
    timeline: Timeline,
    *,
    chunk_duration_s: float,
    min_duration_s: float,
    segment_s: float,
) -> SplitPlan | SinglePass:
    """Split or single pass, for a source whose early checks passed or not."""
    early = refuse_early(options, duration_s, min_duration_s)
    if early is not None:
        return early
    step = frame_duration(timeline)
    if isinstance(step, SinglePass):
        return step
    times, total = timeline.times, len(timeline.times)
    end = times[-1] + step
    marks = [*timeline.keyframes, total]
    gap = max((times[b] if b < total else end) - times[a] for a, b in itertools.pairwise(marks))
    if (
        not timeline.keyframes
        or timeline.keyframes[0] != 0
        or gap > max_keyframe_gap(chunk_duration_s)
    ):
        return SinglePass("keyframe_gap", f"{gap:.1f} s between source keyframes")
    count = max(1, round((end - times[0]) / chunk_duration_s))
    grid = segment_s if options.format == "hls" else None
    starts = _boundaries(timeline, count, chunk_duration_s, grid)
    if len(starts) < 2:
        return SinglePass("single_chunk", "the source makes one chunk")
    chunks = []
    for index, (first, after) in enumerate(zip(starts, [*starts[1:], total], strict=True)):
        offset = None
        if grid is not None:
            offset = times[first] - math.floor(times[first] / grid + 1e-9) * grid
        chunks.append(Chunk(index, first, after - first, times[first], offset))
    return SplitPlan(tuple(chunks), step, total)


def _boundaries(
    timeline: Timeline, count: int, chunk_duration_s: float, grid: float | None
) -> list[int]:
    """First frame of each chunk: near ``k * length / count``, snapped as the rule says."""
    times, keyframes = timeline.times, timeline.keyframes
    start, end = times[0], times[-1]
    window = chunk_duration_s / 5
    starts = [0]
    for k in range(1, count):
        ideal = start + (end - start) * k / count
        if grid is not None:
            point = round(ideal / grid) * grid  # the frame the single pass keys at this point
            frame = bisect.bisect_left(times, point - 1e-9)
        else:
            frame = _nearest_keyframe(times, keyframes, ideal, window)
        if starts[-1] < frame < len(times):
            starts.append(frame)
    return starts


def _nearest_keyframe(
    times: Sequence[float], keyframes: Sequence[int], ideal: float, window: float
) -> int:
    """The source keyframe nearest ``ideal`` within ``window``, else the frame at ``ideal``."""
    best = min(keyframes, key=lambda i: abs(times[i] - ideal))
    if abs(times[best] - ideal) <= window:
        return best
    return bisect.bisect_left(times, ideal)
