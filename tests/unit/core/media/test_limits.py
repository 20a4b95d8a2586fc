"""The declared duration bounds the work (``services.core.media.limits``): pure."""

from __future__ import annotations

from services.core.media.limits import MediaLimits, allowed_seconds, check_span, frame_cap


def test_a_source_may_run_ten_percent_and_a_second_past_what_it_declares() -> None:
    assert allowed_seconds(10.0) == 12.0
    assert allowed_seconds(0.0) == 1.0
    assert frame_cap(10.0, 25.0) == 301  # 12 s at 25 fps, and one more
    assert check_span(MediaLimits(), 10.0, 12.0) is None
    assert check_span(MediaLimits(), 10.0, 9.0) is None  # shorter than said costs nothing


def test_packets_past_the_declared_duration_are_a_mismatch_with_a_readable_message() -> None:
    over = check_span(MediaLimits(), 2.0, 72001.0)
    assert over is not None and over.code == "duration_mismatch"
    assert over.message == (
        "the file says the video lasts 2 s but its frames span at least 72001 s: "
        "it is damaged or was altered; export it again"
    )


def test_without_a_declared_duration_the_span_meets_max_duration() -> None:
    limits = MediaLimits(max_duration_s=60.0)
    assert check_span(limits, None, 59.0) is None
    over = check_span(limits, None, 61.0)
    assert over is not None and over.code == "too_long" and "MAX_DURATION" in over.message
