"""Sizes and durations in the transcoder's ffmpeg commands
(``services.transcoder.encode.command_lines``), without ffmpeg."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from schemas.options import parse_options
from services.core.media.probe import MediaInfo
from services.transcoder.encode.command_lines import (
    Command,
    fit,
    hls_rungs,
    main_command,
    media_seconds,
    preview_command,
    thumbnail_command,
)
from services.transcoder.split.command_lines import audio_command, chunk_command, stitch_command

SRC, OUT = Path("/s/source"), Path("/o")


def source(width: int, height: int, duration: float | None = 10.0) -> MediaInfo:
    return MediaInfo(
        "mp4", "mov", duration, width, height, "h264", None, 25.0, None, 0, True, False
    )


def output_options(command: Command) -> dict[str, str]:
    """The ``-t`` and ``-frames:v`` given just before the (last) output."""
    args = list(command.args)
    tail = args[: len(args) - 1]
    found = {}
    for flag in ("-t", "-frames:v"):
        if flag in tail:
            found[flag] = tail[len(tail) - 1 - tail[::-1].index(flag) + 1]
    return found


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


@pytest.mark.parametrize("preset", ["h264-720p", "vp9-720p", "hls"])
def test_every_video_output_stops_at_the_declared_length_and_its_frames(preset: str) -> None:
    """10 s declared at 25 fps: at most 12 s (10 % and a second more) and 301 frames."""
    command = main_command(SRC, OUT, parse_options(preset), source(1280, 720))
    assert output_options(command) == {"-t": "12.000", "-frames:v": "301"}


def test_the_frame_cap_follows_the_fps_option_the_trim_and_the_faster_guessed_rate() -> None:
    with_fps = main_command(SRC, OUT, parse_options({"fps": 60}), source(640, 360))
    assert output_options(with_fps) == {"-t": "12.000", "-frames:v": "721"}
    trimmed = main_command(SRC, OUT, parse_options({"trim_end": 4}), source(640, 360))
    assert output_options(trimmed) == {"-t": "5.400", "-frames:v": "136"}
    guessed = replace(source(640, 360), guessed_fps=50.0)  # a constant-rate output runs at 50
    assert output_options(main_command(SRC, OUT, parse_options("h264-720p"), guessed)) == {
        "-t": "12.000",
        "-frames:v": "601",
    }


def test_audio_thumbnail_preview_and_split_commands_are_capped_too() -> None:
    info = replace(source(640, 360), has_audio=True, audio_codec="aac")
    audio = main_command(SRC, OUT, parse_options("audio"), info)
    assert output_options(audio) == {"-t": "12.000"}
    assert output_options(thumbnail_command(SRC, OUT, info, 1.0)) == {"-t": "1", "-frames:v": "1"}
    assert output_options(preview_command(SRC, OUT, info)) == {"-t": "4.300", "-frames:v": "53"}
    options = parse_options("h264-720p")
    chunk = chunk_command(
        SRC,
        OUT,
        options,
        info,
        start_s=4.0,
        frame_s=0.04,
        frames=100,
        grid_offset_s=None,
        threads=2,
    )
    assert output_options(chunk) == {"-t": "5.400", "-frames:v": "100"}
    assert output_options(audio_command(SRC, OUT, options, info, 2)) == {"-t": "12.000"}
    main = main_command(SRC, OUT, options, info)
    stitch = stitch_command([OUT / "l.txt"], OUT / "a.m4a", OUT, options, info, main)
    assert output_options(stitch) == {"-t": "12.000"}
    assert stitch.media_seconds == 10.0  # its time and size budgets follow the media


def test_a_source_of_unknown_length_gets_no_caps() -> None:
    command = main_command(SRC, OUT, parse_options("h264-720p"), source(640, 360, None))
    assert output_options(command) == {}
