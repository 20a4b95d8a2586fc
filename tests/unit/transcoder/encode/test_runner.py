"""How the transcoder reads an ffmpeg run's progress blocks (``services.transcoder.encode.runner``;
which limit a failed run hit: ``test_failures.py``)."""

from __future__ import annotations

from services.transcoder.encode.runner import parse_block


def test_progress_blocks() -> None:
    tick = parse_block(
        {"out_time_us": "1500000", "fps": "31.5", "speed": "1.2x", "progress": "continue"}
    )
    assert (tick.out_time_s, tick.fps, tick.speed, tick.done) == (1.5, 31.5, 1.2, False)
    early = parse_block({"out_time_ms": "-23000", "speed": "N/A", "progress": "continue"})
    assert (early.out_time_s, early.speed) == (0.0, None)
    assert parse_block({"out_time_us": "N/A", "progress": "end"}).out_time_s is None
