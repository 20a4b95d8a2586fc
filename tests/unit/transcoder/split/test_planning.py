"""The split rule as a pure function: refusals, boundaries snapped to keyframes or to the HLS
keyframe grid, every frame in exactly one chunk."""

from __future__ import annotations

import pytest

from schemas.options import parse_options
from services.transcoder.split.planning import (
    REASONS,
    SinglePass,
    SplitPlan,
    Timeline,
    max_keyframe_gap,
    plan,
)


def timeline(seconds: float, fps: float = 25.0, gop: int = 25, start: float = 0.0) -> Timeline:
    frames = round(seconds * fps)
    times = tuple(start + i / fps for i in range(frames))
    return Timeline(times, tuple(range(0, frames, gop)), 1 / 12800)


def decide(options: dict[str, object], line: Timeline, **kw: float) -> SplitPlan | SinglePass:
    duration = line.times[-1] - line.times[0] + (line.times[1] - line.times[0])
    settings = {"chunk_duration_s": 60.0, "min_duration_s": 180.0, "segment_s": 4.0} | kw
    return plan(parse_options(options), duration, line, **settings)  # type: ignore[arg-type]


def reason(decision: SplitPlan | SinglePass) -> str:
    assert isinstance(decision, SinglePass), decision
    return decision.reason


def test_a_long_constant_rate_source_is_split_into_chunks_of_about_the_duration() -> None:
    decision = decide({}, timeline(600))
    assert isinstance(decision, SplitPlan)
    assert len(decision.chunks) == 10
    assert [c.start_frame for c in decision.chunks] == [i * 1500 for i in range(10)]
    assert sum(c.frames for c in decision.chunks) == decision.total_frames == 15000
    assert decision.frame_s == pytest.approx(0.04)


def test_boundaries_snap_to_a_near_keyframe_else_the_exact_frame() -> None:
    decision = decide({}, timeline(600, gop=250))  # a keyframe every 10 s: 60 s is one
    assert isinstance(decision, SplitPlan)
    assert all(c.start_frame % 250 == 0 for c in decision.chunks)
    near = Timeline(timeline(240).times, (0, 700, 1400, 2200, 2900, 3700, 4600, 5300), 1e-4)
    decision = decide({}, near)
    assert isinstance(decision, SplitPlan)
    # 60 s = frame 1500: keyframe 1400 is 4 s off (within a fifth of a chunk), and so on
    assert [c.start_frame for c in decision.chunks] == [0, 1400, 2900, 4600]
    far = Timeline(timeline(240).times, (0, 800, 2200, 3600, 5000), 1e-4)
    decision = decide({}, far)
    assert isinstance(decision, SplitPlan)
    assert [c.start_frame for c in decision.chunks] == [0, 1500, 3000, 4500]


def test_hls_chunks_start_on_the_single_pass_keyframe_grid() -> None:
    line = timeline(600, fps=30000 / 1001, gop=15)
    decision = decide({"preset": "hls"}, line, chunk_duration_s=50.0)
    assert isinstance(decision, SplitPlan)
    for chunk in decision.chunks:
        point = round(chunk.start_s / 4) * 4
        assert chunk.start_s >= point - 1e-9  # the first frame at or after a grid point
        assert line.times[chunk.start_frame - 1] < point if chunk.start_frame else True
        assert chunk.grid_offset_s == pytest.approx(chunk.start_s - point, abs=1e-6)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"split": False}, "split_disabled"),
        ({"preset": "audio"}, "audio_only"),
        ({"fps": 24}, "fps_option"),
        ({"video_bitrate": "2M"}, "video_bitrate"),
        ({"trim_start": 5}, "trim"),
    ],
)
def test_options_that_force_a_single_pass(options: dict[str, object], expected: str) -> None:
    assert reason(decide(options, timeline(600))) == expected


def test_short_irregular_variable_and_sparse_sources_are_not_split() -> None:
    assert reason(decide({}, timeline(120))) == "too_short"
    line = timeline(600)
    repeated = Timeline((*line.times[:10], line.times[9], *line.times[11:]), line.keyframes, 1e-4)
    assert reason(decide({}, repeated)) == "irregular_timestamps"
    missing = Timeline(line.times, line.keyframes, 1e-4, missing_timestamps=True)
    assert reason(decide({}, missing)) == "irregular_timestamps"
    vfr = Timeline(
        tuple(t + (0.01 if i % 7 == 0 else 0) for i, t in enumerate(line.times)),
        line.keyframes,
        1e-4,
    )
    assert reason(decide({}, vfr)) == "variable_frame_rate"
    gap = max_keyframe_gap(60.0)
    sparse = Timeline(line.times, (0, round((gap + 1) * 25)), 1e-4)
    assert reason(decide({}, sparse)) == "keyframe_gap"
    assert reason(decide({}, timeline(190), chunk_duration_s=200.0)) == "single_chunk"
    assert {"too_short", "keyframe_gap", "single_chunk"} <= set(REASONS)


def test_timestamp_jitter_of_a_tick_is_still_constant_rate() -> None:
    line = timeline(600, fps=30000 / 1001)
    tick = 1 / 12800
    jittered = tuple(round(t / tick) * tick for t in line.times)
    decision = decide({}, Timeline(jittered, line.keyframes, tick))
    assert isinstance(decision, SplitPlan)
