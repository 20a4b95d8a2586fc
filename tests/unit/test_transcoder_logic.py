"""The transcoder's pure parts, without broker or ffmpeg (they live here, beside their users)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.events import (
    CancelRequested,
    JobCompleted,
    JobStarted,
    JobSubmitted,
    ReprocessRequested,
    RetryScheduled,
)
from schemas.options import parse_options
from services.core.media.probe import MediaInfo
from services.transcoder.attempt.model import RetryPolicy
from services.transcoder.attempt.progress import ProgressReporter
from services.transcoder.consume.joblog import decide, fold
from services.transcoder.consume.offsets import PartitionOffsets
from services.transcoder.encode.command_lines import fit, hls_rungs, media_seconds
from services.transcoder.encode.runner import parse_block


def test_commit_stays_below_unfinished_work() -> None:
    offsets = PartitionOffsets()
    assert offsets.committable() is None
    offsets.read(5)
    offsets.read(6, finished=True)
    offsets.read(7)
    assert offsets.committable() == 5
    offsets.finish(7)
    assert offsets.to_commit() == 5
    offsets.committed = 5
    assert offsets.to_commit() is None
    offsets.finish(5)
    assert offsets.to_commit() == 8


def test_the_first_record_read_sets_the_commit_point() -> None:
    offsets = PartitionOffsets()
    offsets.read(5, finished=True)  # a record needing no work: commit right past it
    assert offsets.committable() == 6
    offsets.read(3, finished=True)  # re-read below: the position never goes back
    assert offsets.committable() == 6


def submitted(job_id: str = "j") -> JobSubmitted:
    return JobSubmitted(
        job_id=job_id,
        user_id="u",
        original_filename="a.mp4",
        source_key="k",
        source_size=1,
        source_sha256="0" * 64,
        processing_options={"preset": "hls"},
    )


def test_decisions_from_the_log() -> None:
    state = fold(None, submitted())
    assert decide(state, running_here=False).action == "run"
    assert decide(state, running_here=True).action == "nothing"
    started = fold(state, JobStarted(job_id="j", worker_id="w", attempt=1))
    orphan = decide(started, running_here=False)
    assert (orphan.action, orphan.attempt) == ("retry_orphan", 1)
    done = fold(
        started, JobCompleted(job_id="j", worker_id="w", attempt=1, outputs=[], duration_ms=1)
    )
    assert decide(done, running_here=False).action == "nothing"
    assert fold(done, submitted()) is done  # a duplicate changes nothing
    cancelled = fold(state, CancelRequested(job_id="j", requested_by="u"))
    assert decide(cancelled, running_here=False).action == "cancel"


def test_jobs_met_mid_life_are_seeded_when_the_event_can_run_them() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    retry = RetryScheduled(
        job_id="j", attempt=3, not_before=when, reason="x", processing_options={"preset": "audio"}
    )
    state = fold(None, retry)
    assert state is not None and state.processing_options == {"preset": "audio"}
    decision = decide(state, running_here=False)
    assert (decision.action, decision.attempt, decision.not_before) == ("run", 3, when)
    assert fold(None, RetryScheduled(job_id="j", attempt=2, not_before=when, reason="x")) is None
    reprocess = fold(None, ReprocessRequested(job_id="j", processing_options={}, requested_by="u"))
    assert reprocess is not None and reprocess.status == "pending"
    assert fold(None, JobStarted(job_id="j", worker_id="w", attempt=1)) is None


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=2, max_delay_s=5)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3)] == [2, 4, 5]
    assert policy.may_retry(2) and not policy.may_retry(3)


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


def test_progress_blocks() -> None:
    tick = parse_block(
        {"out_time_us": "1500000", "fps": "31.5", "speed": "1.2x", "progress": "continue"}
    )
    assert (tick.out_time_s, tick.fps, tick.speed, tick.done) == (1.5, 31.5, 1.2, False)
    early = parse_block({"out_time_ms": "-23000", "speed": "N/A", "progress": "continue"})
    assert (early.out_time_s, early.speed) == (0.0, None)
    assert parse_block({"out_time_us": "N/A", "progress": "end"}).out_time_s is None


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
