"""What a worker decides from a job's log (``services.transcoder.consume.joblog``): pure."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.events import (
    CancelRequested,
    JobCompleted,
    JobStarted,
    JobSubmitted,
    ReprocessRequested,
    RetryScheduled,
)
from services.core.domain.jobstate import JobState
from services.transcoder.consume.joblog import decide, fold


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


def test_a_reprocess_runs_the_attempt_it_names_with_a_fresh_retry_budget() -> None:
    reprocess = ReprocessRequested(job_id="j", processing_options={}, requested_by="u", attempt=4)
    done: JobState | None = fold(None, submitted())
    for event in (
        JobStarted(job_id="j", worker_id="w", attempt=3),
        JobCompleted(job_id="j", worker_id="w", attempt=3, outputs=[], duration_ms=1),
    ):
        done = fold(done, event)
    assert done is not None and done.status == "completed"
    for state in (fold(None, reprocess), fold(done, reprocess)):
        decision = decide(state, running_here=False)
        assert (decision.action, decision.attempt, decision.first_attempt) == ("run", 4, 4)
