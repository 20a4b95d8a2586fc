"""Exhaustive tests of the pure job state machine: every state x every event type."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import (
    EVENT_TYPES,
    CancelRequested,
    ChunkRequested,
    Event,
    JobCancelled,
    JobCompleted,
    JobDeleted,
    JobFailed,
    JobOutput,
    JobProgress,
    JobStarted,
    JobStatus,
    JobSubmitted,
    ReprocessRequested,
    RetryScheduled,
    StageCompleted,
)
from services.core.domain.jobstate import (
    ALLOWED,
    IllegalTransition,
    JobState,
    apply,
    delete_requires_cancel,
    is_terminal,
    legal,
    may_retry,
)

JOB = "job-1"
NOT_BEFORE = datetime(2030, 1, 1, tzinfo=UTC)
OUTPUT = JobOutput(
    name="720p", key=f"outputs/{JOB}/720p.mp4", content_type="video/mp4", size_bytes=9
)
STATUSES: tuple[JobStatus, ...] = tuple(JobStatus)


def short(event_type: str) -> str:
    return event_type.removeprefix("video.job.")


def make(kind: str, attempt: int = 1, progress: int = 50) -> Event:
    """A valid event of ``kind`` (type without the ``video.job.`` prefix) for JOB."""
    match kind:
        case "submitted":
            return JobSubmitted(
                job_id=JOB,
                user_id="u1",
                original_filename="a.mp4",
                source_key=f"sources/{JOB}/a.mp4",
                source_size=10,
                source_sha256="ab" * 32,
                processing_options={"preset": "720p"},
            )
        case "started":
            return JobStarted(job_id=JOB, worker_id="w1", attempt=attempt)
        case "stage_completed":
            return StageCompleted(
                job_id=JOB,
                worker_id="w1",
                attempt=attempt,
                operation="transcode",
                status="ok",
                duration_ms=5,
            )
        case "progress":
            return JobProgress(job_id=JOB, attempt=attempt, progress=progress, stage="transcode")
        case "completed":
            return JobCompleted(
                job_id=JOB, worker_id="w1", attempt=attempt, outputs=[OUTPUT], duration_ms=7
            )
        case "failed":
            return JobFailed(
                job_id=JOB, error_code="ffmpeg", message="boom", retryable=True, attempt=attempt
            )
        case "retry_scheduled":
            return RetryScheduled(
                job_id=JOB, attempt=attempt + 1, not_before=NOT_BEFORE, reason="boom"
            )
        case "cancel_requested":
            return CancelRequested(job_id=JOB, requested_by="u1")
        case "cancelled":
            return JobCancelled(job_id=JOB, attempt=attempt)
        case "deleted":
            return JobDeleted(job_id=JOB, requested_by="u1")
        case "reprocess_requested":
            return ReprocessRequested(
                job_id=JOB, processing_options={"preset": "1080p"}, requested_by="u1"
            )
        case "chunk_requested":  # a task on video.chunks: legal in no state of the job log
            return ChunkRequested(
                job_id=JOB,
                attempt=attempt,
                index=0,
                count=2,
                start_frame=0,
                frames=10,
                start_s=0.0,
                frame_s=0.04,
                processing_options={},
                prefix=f"outputs/{JOB}/{attempt}/chunks/",
            )
    raise AssertionError(kind)


def state(status: JobStatus, **changes: object) -> JobState:
    base = JobState(job_id=JOB, status=status, attempt=1, processing_options={"preset": "720p"})
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# --- the legality table, written out by hand ------------------------------------------------

ACTIVE = {"failed", "cancel_requested", "cancelled", "deleted"}
RUNNING = {"stage_completed", "progress", "completed", "retry_scheduled"}
FINISHED = {"retry_scheduled", "reprocess_requested", "deleted"}

STATES: dict[str, JobState | None] = {
    "unknown": None,
    "pending": state("pending", attempt=0),
    "pending+cancel": state("pending", attempt=0, cancel_requested=True),
    "pending(after retry)": state("pending", retry_not_before=NOT_BEFORE, error_message="boom"),
    "processing": state("processing"),
    "processing+cancel": state("processing", cancel_requested=True),
    "completed": state("completed", progress=100, outputs=(OUTPUT,)),
    "failed": state("failed", error_message="boom"),
    "cancelled": state("cancelled", cancel_requested=True),
    **{f"deleted {s}": state(s, deleted=True) for s in STATUSES},
}

EXPECTED_LEGAL: dict[str, set[str]] = {
    "unknown": {"submitted"},
    "pending": {"started", *ACTIVE},
    "pending+cancel": set(ACTIVE),  # the worker must cancel, not start
    "pending(after retry)": {"started", *ACTIVE},
    "processing": {*RUNNING, *ACTIVE},
    "processing+cancel": {*RUNNING, *ACTIVE},
    "completed": {"reprocess_requested", "deleted"},
    "failed": set(FINISHED),
    "cancelled": set(FINISHED),
    **{f"deleted {s}": set() for s in STATUSES},
}

CASES = [(name, cls.type) for name in STATES for cls in EVENT_TYPES]


def test_table_covers_every_event_type() -> None:
    kinds = {short(cls.type) for cls in EVENT_TYPES}
    assert set().union(*EXPECTED_LEGAL.values()) <= kinds
    assert set(STATES) == set(EXPECTED_LEGAL)


@pytest.mark.parametrize(("state_name", "event_type"), CASES)
def test_legality_matrix(state_name: str, event_type: str) -> None:
    current = STATES[state_name]
    current_attempt = current.attempt if current is not None else 0
    if current is not None and current.status == "pending":
        current_attempt += 1  # a pending job's events belong to the attempt that runs next
    event = make(short(event_type), attempt=max(current_attempt, 1))
    expected = short(event_type) in EXPECTED_LEGAL[state_name]

    assert legal(current, event_type) is expected
    if expected:
        after = apply(current, event)
        assert after.status in STATUSES
    else:
        with pytest.raises(IllegalTransition) as info:
            apply(current, event)
        assert info.value.event_type == event_type
        assert info.value.status == (None if current is None else current.status)


@pytest.mark.parametrize("status", STATUSES)
def test_allowed_table_matches_expected(status: JobStatus) -> None:
    assert {short(t) for t in ALLOWED[status]} == EXPECTED_LEGAL[status]


def test_is_terminal() -> None:
    assert [s for s in STATUSES if is_terminal(s)] == ["completed", "failed", "cancelled"]


def test_illegal_transition_message_is_readable() -> None:
    with pytest.raises(IllegalTransition, match="cancel_requested is not allowed on a completed"):
        apply(STATES["completed"], make("cancel_requested"))
    with pytest.raises(IllegalTransition, match="unknown job"):
        apply(None, make("started"))


REFUSALS = [
    ("unknown", None, "started", "the job does not exist"),
    ("deleted completed", "completed", "reprocess_requested", "the job was deleted"),
    ("completed", "completed", "cancel_requested", "not accepted in this status"),
    (
        "pending+cancel",
        "pending",
        "started",
        "a cancel was requested; the worker must cancel, not start",
    ),
]


@pytest.mark.parametrize(("state_name", "status", "kind", "reason"), REFUSALS)
def test_a_refusal_names_status_event_and_reason(
    state_name: str, status: str | None, kind: str, reason: str
) -> None:
    with pytest.raises(IllegalTransition) as refused:
        apply(STATES[state_name], make(kind))
    event_type = make(kind).type
    assert (refused.value.status, refused.value.event_type) == (status, event_type)
    assert refused.value.reason == reason
    where = "an unknown job" if status is None else f"a {status} job"
    assert str(refused.value) == f"{event_type} is not allowed on {where}: {reason}"


def test_stale_refusals_name_status_event_and_attempts() -> None:
    running = state("processing", attempt=2)
    for event, reason in (
        (make("progress", attempt=1), "stale attempt 1, current is 2"),
        (make("failed", attempt=1), "outcome of stale attempt, current is 2"),
    ):
        with pytest.raises(IllegalTransition) as refused:
            apply(running, event)
        assert (refused.value.status, refused.value.event_type) == ("processing", event.type)
        assert refused.value.reason == reason


def test_a_refusal_without_reason_says_only_what() -> None:
    refused = IllegalTransition(JobStatus.PENDING, "video.job.x")
    assert refused.reason == ""
    assert str(refused) == "video.job.x is not allowed on a pending job"


# --- rules of user commands -------------------------------------------------------------------

# A processing job retries on its own (the worker's automatic retry_scheduled), never by request.
EXPECTED_MAY_RETRY = {"failed", "cancelled"}
# Deleting stops a worker that may run the job, unless a cancel is already on its way.
EXPECTED_DELETE_CANCELS = {"pending", "pending(after retry)", "processing"}
KNOWN = [name for name, known in STATES.items() if known is not None]


def test_rule_tables_name_real_states() -> None:
    assert EXPECTED_MAY_RETRY | EXPECTED_DELETE_CANCELS <= set(STATES)


@pytest.mark.parametrize("state_name", list(STATES))
def test_may_retry_only_a_failed_or_cancelled_job(state_name: str) -> None:
    current = STATES[state_name]
    assert may_retry(current) is (state_name in EXPECTED_MAY_RETRY)
    if may_retry(current):  # a manual retry is always a legal retry_scheduled
        assert legal(current, RetryScheduled.type)
        assert current is not None
        assert apply(current, make("retry_scheduled", current.attempt)).status == "pending"


@pytest.mark.parametrize("status", STATUSES)
def test_may_retry_follows_the_status_alone(status: JobStatus) -> None:
    expected = status in ("failed", "cancelled")
    assert may_retry(state(status)) is expected
    assert may_retry(state(status, cancel_requested=True)) is expected
    assert may_retry(state(status, deleted=True)) is False


@pytest.mark.parametrize("state_name", KNOWN)
def test_delete_requires_cancel_while_a_worker_may_run_the_job(state_name: str) -> None:
    current = STATES[state_name]
    assert current is not None
    assert delete_requires_cancel(current) is (state_name in EXPECTED_DELETE_CANCELS)


@pytest.mark.parametrize("state_name", KNOWN)
def test_the_events_of_a_delete_apply_in_order(state_name: str) -> None:
    """What ingest publishes for DELETE (``cancel_requested`` first when the rule says so,
    then ``deleted``) is legal wherever a delete is, and leaves a deleted job."""
    current = STATES[state_name]
    assert current is not None
    if not legal(current, JobDeleted.type):
        assert state_name.startswith("deleted")
        return
    if delete_requires_cancel(current):
        current = apply(current, make("cancel_requested"))
        assert current.cancel_requested and not delete_requires_cancel(current)
    after = apply(current, make("deleted"))
    assert after.deleted and not delete_requires_cancel(after)


# --- field effects ------------------------------------------------------------------------------


def run(*events: Event) -> JobState:
    current: JobState | None = None
    for event in events:
        current = apply(current, event)
    assert current is not None
    return current


def test_submitted_creates_pending_job() -> None:
    s = run(make("submitted"))
    assert s == JobState(job_id=JOB, status="pending", processing_options={"preset": "720p"})


def test_happy_path() -> None:
    s = run(
        make("submitted"),
        make("started", 1),
        make("stage_completed", 1),
        make("progress", 1, 40),
        make("completed", 1),
    )
    assert (s.status, s.progress, s.attempt, s.worker_id) == ("completed", 100, 1, "w1")
    assert s.outputs == (OUTPUT,)


def test_started_resets_attempt_fields() -> None:
    s = apply(STATES["pending(after retry)"], make("started", attempt=2))
    assert (s.status, s.attempt, s.worker_id, s.progress) == ("processing", 2, "w1", 0)
    assert s.error_message is None and s.retry_not_before is None


def test_completed_names_the_worker_that_finished() -> None:
    s = apply(state("processing", worker_id="w0"), make("completed"))
    assert (s.worker_id, s.error_message) == ("w1", None)


def test_stage_completed_keeps_state() -> None:
    s = state("processing", progress=30)
    assert apply(s, make("stage_completed")) == s


def test_progress_never_goes_backwards_and_caps_at_99() -> None:
    s = run(make("submitted"), make("started", 1))
    s = apply(s, make("progress", progress=30))
    assert apply(s, make("progress", progress=20)).progress == 30
    s = apply(s, make("progress", progress=100))
    assert s.progress == 99 and s.status == "processing"
    assert apply(s, make("completed")).progress == 100


@pytest.mark.parametrize("kind", ["progress", "stage_completed", "completed"])
def test_stale_attempt_is_illegal(kind: str) -> None:
    s = state("processing", attempt=2)
    assert legal(s, make(kind).type)  # the type is fine; the payload is stale
    with pytest.raises(IllegalTransition, match="stale attempt 1"):
        apply(s, make(kind, attempt=1))
    with pytest.raises(IllegalTransition, match="stale attempt 3"):
        apply(s, make(kind, attempt=3))


@pytest.mark.parametrize("status", ["pending", "processing"])
def test_failed_records_message(status: JobStatus) -> None:
    before = state(status, attempt=0 if status == "pending" else 1)  # pending: none ran yet
    s = apply(before, make("failed"))
    assert (s.status, s.error_message) == ("failed", "boom")


def test_automatic_retry_goes_back_to_pending() -> None:
    s = state("processing", progress=40, worker_id="w1", cancel_requested=True)
    s = apply(s, make("retry_scheduled", attempt=1))
    assert (s.status, s.attempt, s.progress) == ("pending", 1, 0)
    assert (s.retry_not_before, s.error_message, s.worker_id) == (NOT_BEFORE, "boom", None)
    assert s.cancel_requested  # a pending cancel survives an automatic retry


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_manual_retry_resets_cancel(status: JobStatus) -> None:
    s = apply(state(status, cancel_requested=True, error_message="boom"), make("retry_scheduled"))
    assert (s.status, s.attempt, s.cancel_requested) == ("pending", 1, False)
    assert (s.retry_not_before, s.error_message) == (NOT_BEFORE, None)
    assert legal(s, JobStarted.type)


@pytest.mark.parametrize("status", ["pending", "processing"])
def test_cancel_requested_sets_flag_and_repeats_as_noop(status: JobStatus) -> None:
    once = apply(state(status), make("cancel_requested"))
    assert (once.status, once.cancel_requested) == (status, True)
    assert apply(once, make("cancel_requested")) == once


@pytest.mark.parametrize("status", ["pending", "processing"])
def test_cancelled(status: JobStatus) -> None:
    assert apply(state(status), make("cancelled")).status == "cancelled"


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_reprocess_resets_everything(status: JobStatus) -> None:
    before = state(
        status,
        attempt=3,
        progress=100,
        outputs=(OUTPUT,),
        error_message="boom",
        cancel_requested=True,
        worker_id="w1",
        retry_not_before=NOT_BEFORE,
    )
    s = apply(before, make("reprocess_requested"))
    assert s == JobState(job_id=JOB, status="pending", processing_options={"preset": "1080p"})


@pytest.mark.parametrize("status", STATUSES)
def test_deleted_keeps_status_then_accepts_nothing(status: JobStatus) -> None:
    s = apply(state(status), make("deleted"))
    assert (s.status, s.deleted) == (status, True)
    with pytest.raises(IllegalTransition, match="deleted"):
        apply(s, make("deleted"))


# --- property: random event sequences -------------------------------------------------------

# Ticks drawn often so progress moves; deletion ends a sequence, so it is drawn rarely.
WEIGHTS = {short(cls.type): 4 for cls in EVENT_TYPES} | {"progress": 40, "deleted": 1}
KINDS = [kind for kind, weight in WEIGHTS.items() for _ in range(weight)]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_sequences_keep_invariants(data: st.DataObject) -> None:
    current = apply(None, make("submitted"))
    for _ in range(data.draw(st.integers(0, 40))):
        # Mostly the current attempt (so ticks apply), sometimes a stale or future one.
        attempt = data.draw(st.sampled_from([max(current.attempt, 1), current.attempt + 1, 1]))
        event = make(data.draw(st.sampled_from(KINDS)), attempt, data.draw(st.integers(0, 100)))
        if not legal(current, event.type):
            with pytest.raises(IllegalTransition):
                apply(current, event)
            continue
        try:
            after = apply(current, event)
        except IllegalTransition as exc:
            assert "stale attempt" in str(exc)  # the only refusal legal() cannot see
            continue
        assert after.status in STATUSES
        assert 0 <= after.progress <= (100 if after.status == "completed" else 99)
        if current.status == after.status == "processing":
            assert after.progress >= current.progress
        current = after


def test_late_outcomes_of_an_abandoned_attempt_are_stale() -> None:
    """A worker cut off during attempt 1 reports after attempt 2 began elsewhere: ignored."""
    redo = state("processing", attempt=2, worker_id="w2")
    for late in (make("failed", attempt=1), make("retry_scheduled", attempt=1)):
        with pytest.raises(IllegalTransition, match="stale attempt"):
            apply(redo, late)
    assert apply(redo, make("failed", attempt=2)).status == "failed"
    assert apply(redo, make("retry_scheduled", attempt=2)).attempt == 2


def test_reprocess_continues_the_attempt_count_and_fences_the_earlier_run() -> None:
    done = run(make("submitted"), make("started", 1), make("completed", 1))
    again = ReprocessRequested(
        job_id=JOB, processing_options={"preset": "1080p"}, requested_by="u1", attempt=2
    )
    s = apply(done, again)
    assert (s.status, s.attempt, s.first_attempt, s.outputs) == ("pending", 1, 2, ())
    # late events of attempt 1, while the new run is pending and once it runs
    for late in ("started", "failed"):
        with pytest.raises(IllegalTransition, match="stale"):
            apply(s, make(late, attempt=1))
    s = apply(s, make("started", attempt=2))
    for late in ("stage_completed", "progress", "completed", "failed"):
        with pytest.raises(IllegalTransition, match="stale"):
            apply(s, make(late, attempt=1))
    assert apply(s, make("completed", attempt=2)).status == "completed"


def test_reprocess_written_before_the_attempt_field_restarts_at_one() -> None:
    """Old logs: their reprocessed runs were attempt 1 again, and a rebuild must agree."""
    done = run(make("submitted"), make("started", 1), make("completed", 1))
    s = apply(done, make("reprocess_requested"))
    assert (s.attempt, s.first_attempt) == (0, 1)
    assert apply(s, make("started", attempt=1)).status == "processing"


def test_started_never_goes_back_to_an_earlier_attempt() -> None:
    s = run(make("submitted"), make("started", 1), make("failed", 1), make("retry_scheduled", 1))
    with pytest.raises(IllegalTransition, match="stale attempt 1"):
        apply(s, make("started", attempt=1))
    assert apply(s, make("started", attempt=2)).attempt == 2
