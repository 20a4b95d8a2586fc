"""``schemas.options``: presets, explicit fields, readable refusals, a stable JSON form."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.options import PRESETS, InvalidOptions, parse_options


def test_no_options_mean_h264_720p() -> None:
    for raw in (None, {}, ""):
        options = parse_options(raw)
        assert (options.preset, options.format, options.height) == ("h264-720p", "mp4", 720)
        assert (options.video_codec, options.audio_codec, options.crf) == ("h264", "aac", 23)


@pytest.mark.parametrize(
    ("preset", "fmt", "video", "audio", "height"),
    [
        ("h264-480p", "mp4", "h264", "aac", 480),
        ("h264-720p", "mp4", "h264", "aac", 720),
        ("h264-1080p", "mp4", "h264", "aac", 1080),
        ("vp9-720p", "webm", "vp9", "opus", 720),
        ("hls", "hls", "h264", "aac", None),
        ("audio", "m4a", None, "aac", None),
    ],
)
def test_presets(preset: str, fmt: str, video: str | None, audio: str, height: int | None) -> None:
    options = parse_options({"preset": preset})
    assert (options.format, options.video_codec, options.audio_codec) == (fmt, video, audio)
    assert options.height == height
    assert parse_options(preset) == options
    assert options.ladder == ((360, 480, 720) if preset == "hls" else ())


def test_explicit_fields_and_overrides() -> None:
    options = parse_options(
        {
            "format": "webm",
            "width": "640",
            "video_bitrate": "1.5M",
            "audio_bitrate": "96k",
            "fps": 24,
            "trim_start": 1,
            "trim_end": 4.5,
        }
    )
    assert (options.video_codec, options.width, options.height) == ("vp9", 640, None)
    assert (options.video_bitrate, options.crf, options.audio_bitrate) == (1_500_000, None, 96_000)
    assert (options.fps, options.trim_start, options.trim_end) == (24.0, 1.0, 4.5)
    assert parse_options({"video_codec": "vp9"}).format == "webm"
    assert parse_options({"preset": "h264-480p", "crf": 28}).crf == 28


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"preset": "4k"}, "preset", "h264-480p"),
        ({"format": "avi"}, "format", "mp4"),
        ({"crf": 70}, "crf", "0..51"),
        ({"format": "webm", "crf": 64}, "crf", "0..63"),
        ({"crf": 20, "video_bitrate": "1M"}, "crf", "not both"),
        ({"video_bitrate": "fast"}, "video_bitrate", "not a bitrate"),
        ({"width": 8}, "width", "16..7680"),
        ({"height": 480.5}, "height", "whole number"),
        ({"fps": True}, "fps", "not a number"),
        ({"trim_start": 5, "trim_end": 2}, "trim_end", "greater than trim_start"),
        ({"format": "webm", "video_codec": "h264"}, "video_codec", "'vp9'"),
        ({"preset": "audio", "height": 480}, "height", "audio only"),
        ({"preset": "hls", "format": "mp4"}, "format", "'hls'"),
        ({"ladder": [360]}, "ladder", "only the hls"),
        ({"resolution": "720p"}, "resolution", "unknown option"),
    ],
)
def test_refusals_name_the_field(raw: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as caught:
        parse_options(raw)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"processing_options.{field}: ")
    assert words in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_not_an_object() -> None:
    with pytest.raises(InvalidOptions, match="JSON object"):
        parse_options([1, 2])  # type: ignore[arg-type]


raw_options = st.fixed_dictionaries(
    {},
    optional={
        "preset": st.sampled_from(sorted(PRESETS)),
        "crf": st.integers(0, 51),
        "height": st.integers(16, 4320),
        "fps": st.floats(1, 120),
        "trim_start": st.floats(0, 10),
        "audio_bitrate": st.integers(16_000, 512_000),
    },
)


@given(raw_options)
def test_event_dict_round_trips(raw: dict[str, Any]) -> None:
    try:
        options = parse_options(raw)
    except InvalidOptions:
        return  # e.g. a height on the audio preset
    assert parse_options(options.to_event_dict()) == options
    assert options.model_config.get("frozen")


# Every bound is inclusive: the limit itself is accepted, one step past it is refused.
BOUNDS: list[tuple[str, dict[str, Any], float, float, float]] = [
    # field, other fields, low, high, step
    ("width", {}, 16, 7680, 1),
    ("height", {}, 16, 4320, 1),
    ("crf", {}, 0, 51, 1),
    ("crf", {"format": "webm"}, 0, 63, 1),
    ("fps", {}, 1.0, 120.0, 0.5),
    ("trim_start", {}, 0.0, 86_400.0, 0.5),
    ("trim_end", {"trim_start": None}, 0.5, 86_400.0, 0.5),
    ("video_bitrate", {}, 50_000, 100_000_000, 1),
    ("audio_bitrate", {}, 16_000, 512_000, 1),
]


@pytest.mark.parametrize(("field", "others", "low", "high", "step"), BOUNDS)
def test_bounds_are_inclusive(
    field: str, others: dict[str, Any], low: float, high: float, step: float
) -> None:
    for value in (low, high):
        assert getattr(parse_options({**others, field: value}), field) == value
    for value in (low - step, high + step):
        with pytest.raises(InvalidOptions) as refused:
            parse_options({**others, field: value})
        assert refused.value.field == field
        assert "outside" in refused.value.problem or "greater" in refused.value.problem


def test_ladder_rungs_are_bounded_and_must_be_a_list() -> None:
    assert parse_options({"format": "hls", "ladder": [144, 2160]}).ladder == (144, 2160)
    for rungs in ([143], [2161]):
        with pytest.raises(InvalidOptions, match=r"outside 144\.\.2160"):
            parse_options({"format": "hls", "ladder": rungs})
    with pytest.raises(InvalidOptions) as refused:
        parse_options({"format": "hls", "ladder": "720"})
    assert (refused.value.field, refused.value.problem) == (
        "ladder",
        "must be a non-empty list of heights",
    )


def test_ladder_has_at_most_six_distinct_rungs_and_repeats_collapse() -> None:
    six = [144, 240, 360, 480, 720, 1080]
    assert parse_options({"format": "hls", "ladder": six}).ladder == tuple(six)
    assert parse_options({"format": "hls", "ladder": [720] * 2017}).ladder == (720,)
    assert parse_options({"format": "hls", "ladder": [720, 360, 720]}).ladder == (360, 720)
    for rungs in ([*six, 2160], list(range(144, 2161))):
        with pytest.raises(InvalidOptions) as refused:
            parse_options({"format": "hls", "ladder": rungs})
        assert refused.value.field == "ladder"
        assert refused.value.problem.startswith("at most 6 distinct heights")
    with pytest.raises(InvalidOptions, match="null"):
        parse_options({"format": "hls", "ladder": [360, None]})


def test_trim_end_must_follow_trim_start() -> None:
    assert parse_options({"trim_start": 2, "trim_end": 2.5}).trim_end == 2.5
    for start, end in ((2, 2), (None, 0)):
        with pytest.raises(InvalidOptions) as refused:
            parse_options({"trim_start": start, "trim_end": end})
        assert (refused.value.field, refused.value.problem) == (
            "trim_end",
            "must be greater than trim_start",
        )


def test_event_dict_keeps_defaults_and_drops_nones() -> None:
    event = parse_options("h264-720p").to_event_dict()
    assert event["ladder"] == [] and "width" not in event and "fps" not in event


def test_defaults_and_text_forms_of_explicit_fields() -> None:
    assert parse_options({"height": 480}).audio_bitrate == 128_000
    assert parse_options({"format": "webm"}).audio_bitrate == 128_000
    assert parse_options({"video_bitrate": "2500000"}).video_bitrate == 2_500_000
    with pytest.raises(InvalidOptions) as refused:
        parse_options({"crf": "abc"})
    assert (refused.value.field, refused.value.problem) == ("crf", "'abc' is not a number")


def test_codec_and_audio_only_refusals_name_the_field() -> None:
    with pytest.raises(InvalidOptions) as refused:
        parse_options({"format": "mp4", "audio_codec": "opus"})
    assert (refused.value.field, refused.value.problem) == (
        "audio_codec",
        "'opus' is not supported in 'mp4'; use 'aac'",
    )
    with pytest.raises(InvalidOptions) as refused:
        parse_options({"format": "m4a", "video_codec": "h264"})
    assert refused.value.problem == "'h264' is not supported in 'm4a'; use none (audio only)"
    with pytest.raises(InvalidOptions) as refused:
        parse_options({"format": "m4a", "ladder": [360]})
    assert (refused.value.field, refused.value.problem) == (
        "ladder",
        "not allowed with format 'm4a' (audio only)",
    )


def test_split_is_a_flag_that_only_false_records() -> None:
    assert parse_options({}).split is True
    assert "split" not in parse_options({}).to_event_dict()  # events written before stay equal
    forced = parse_options({"preset": "hls", "split": False})
    assert forced.split is False and forced.to_event_dict()["split"] is False
    assert parse_options(forced.to_event_dict()) == forced
    assert parse_options({"split": "false"}).split is False  # a form field
    with pytest.raises(InvalidOptions) as refused:
        parse_options({"split": "sometimes"})
    assert refused.value.field == "split"
