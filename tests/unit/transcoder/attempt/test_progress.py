"""An attempt's progress ticks (``services.transcoder.attempt.progress``), without a broker."""

from __future__ import annotations

import pytest

from services.transcoder.attempt.progress import ProgressReporter


async def test_progress_never_goes_back_and_is_throttled() -> None:
    sent: list[int] = []

    async def publish(event: object) -> None:
        sent.append(event.progress)  # type: ignore[attr-defined]

    reporter = ProgressReporter("j", 1, publish, min_interval_s=0.0)
    await reporter.update("transcode", 0.5)
    await reporter.update("transcode", 0.4)
    await reporter.update("transcode", 2.0)
    await reporter.finish()
    assert sent == [49, 90, 100]
    throttled = ProgressReporter("j", 1, publish, min_interval_s=60)
    sent.clear()
    await throttled.update("transcode", 0.1)
    await throttled.update("transcode", 0.9)
    assert sent == [16]
    with pytest.raises(KeyError):
        throttled.percent("nope", 0)
