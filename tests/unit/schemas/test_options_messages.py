"""A refused option names the problem and what would be accepted, in the words users see."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.options import _FIELDS, _FORMAT_CODECS, PRESETS, InvalidOptions, parse_options


def refusal(value: Any) -> InvalidOptions:
    with pytest.raises(InvalidOptions) as caught:
        parse_options(value)
    return caught.value


def test_refusals_list_what_is_accepted() -> None:
    assert refusal({"bogus": 1}).problem == f"unknown option (known: {', '.join(_FIELDS)})"
    assert refusal({"preset": "nope"}).problem == f"'nope' is not one of {', '.join(PRESETS)}"
    fmt = refusal({"format": "avi"}).problem
    assert fmt == f"'avi' is not one of {', '.join(_FORMAT_CODECS)}"


def test_refusals_say_what_to_change() -> None:
    both = refusal({"crf": 20, "video_bitrate": "1M"})
    assert (both.field, both.problem) == ("crf", "give crf or video_bitrate, not both")
    ladder = refusal({"format": "mp4", "ladder": [360]})
    assert (ladder.field, ladder.problem) == ("ladder", "only the hls format has a ladder")
    whole = refusal([1, 2])
    assert (whole.field, str(whole)) == (None, "processing_options must be a JSON object")
