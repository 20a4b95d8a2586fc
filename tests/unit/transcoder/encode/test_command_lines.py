"""Sizes and durations in the transcoder's ffmpeg commands
(``services.transcoder.encode.command_lines``), without ffmpeg."""

from __future__ import annotations

from schemas.options import parse_options
from services.core.media.probe import MediaInfo
from services.transcoder.encode.command_lines import fit, hls_rungs, media_seconds


def source(width: int, height: int, duration: float | None = 10.0) -> MediaInfo:
    return MediaInfo(
        "mp4", "mov", duration, width, height, "h264", None, 25.0, None, 0, True, False
    )


def test_sizes_are_even_capped_and_keep_the_aspect_ratio() -> None:
    assert fit(1920, 1080, None, 720) == (1280, 720)
    assert fit(1280, 720, None, 1080) == (1280, 720)  # never upscaled
    assert fit(161, 91, None, None) == (160, 90)
    assert fit(1080, 1920, 640, 640) == (360, 640)
    rungs = hls_rungs(parse_options("hls"), source(854, 480))
    assert rungs == [(640, 360), (854, 480)]
    assert hls_rungs(parse_options("hls"), source(320, 240)) == [(320, 240)]


def test_media_seconds_follow_the_trim() -> None:
    options = parse_options({"trim_start": 2, "trim_end": 20})
    assert media_seconds(options, source(100, 100)) == 8.0
    assert media_seconds(options, source(100, 100, None)) == 18.0
