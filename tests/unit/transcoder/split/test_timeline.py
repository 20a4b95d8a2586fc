"""Reading a timeline from packets (``services.transcoder.split.timeline``), with stand-in
packets: presentation order, keyframes, the packet limit, compact storage."""

from __future__ import annotations

from array import array
from types import SimpleNamespace
from typing import Any

import pytest

from services.transcoder.split.timeline import TimelineRefused, _packets, max_packets


def packets(*pts: int | None, keys: tuple[int, ...] = (0,)) -> list[Any]:
    return [SimpleNamespace(size=100, pts=p, is_keyframe=p in keys) for p in pts] + [
        SimpleNamespace(size=0, pts=None, is_keyframe=False)
    ]  # the flush packet


def test_packets_come_out_in_presentation_order_packed_with_their_keyframe_flag() -> None:
    # decode order of an IPBB... stream: presentation times reordered within a few packets
    order = [0, 3, 1, 2, 6, 4, 5, *range(7, 300)]
    packed, missing = _packets(packets(*order, keys=(0, 100, 200)), None)
    assert isinstance(packed, array) and packed.itemsize == 8  # no object per frame
    assert [v >> 1 for v in packed] == list(range(300)) and not missing
    assert [v >> 1 for v in packed if v & 1] == [0, 100, 200]


def test_a_file_disordered_beyond_the_window_is_sorted_whole() -> None:
    packed, _ = _packets(packets(*range(100, 200), *range(100)), None)
    assert [v >> 1 for v in packed] == list(range(200))


def test_reading_stops_past_fps_times_duration_times_1_1_packets() -> None:
    limit = max_packets(25.0, 2.0)
    assert limit == 56
    assert len(_packets(packets(*range(56)), limit)[0]) == 56
    with pytest.raises(TimelineRefused, match="more than 56 video packets"):
        _packets(packets(*range(10_000)), limit)
    assert max_packets(None, 2.0) is None and max_packets(25.0, None) is None


def test_missing_and_out_of_range_timestamps() -> None:
    assert _packets(packets(0, None, 2), None)[1] is True
    with pytest.raises(TimelineRefused, match="out of range"):
        _packets(packets(0, 2**62), None)
