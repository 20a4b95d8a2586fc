"""The projector's pure core: ``project`` folds a batch of events into read-model rows.

The same recorded stream the integration tests publish (``tests/support/stream.py``), here
without a broker or a database: rows, history, skips and counters of each batch.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest

from schemas.envelope import Envelope
from schemas.events import (
    Event,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobOutput,
    JobProgress,
    JobStarted,
    JobSubmitted,
    ReprocessRequested,
    RetryScheduled,
    StageCompleted,
)
from services.projector.projection import BatchOutcome, coalesce_progress, project
from services.projector.rows import INT4_MAX, MAX_APPLIED_IDS, JobRow, history_id
from tests.support.stream import (
    EXPECTED_STATUS,
    T0,
    job_uuid,
    kind_of,
    recorded_stream,
    user_uuid,
)

JOBS = 21  # three of each kind of story


def split(envelopes: Sequence[Envelope]) -> tuple[list[Envelope], list[Envelope]]:
    """Lifecycle events and progress ticks, as the projector reads them from two topics."""
    ticks = [e for e in envelopes if isinstance(e.event, JobProgress)]
    return [e for e in envelopes if not isinstance(e.event, JobProgress)], ticks


def run(stored: dict[str, JobRow], envelopes: Sequence[Envelope]) -> BatchOutcome:
    """One batch, its rows written back into ``stored`` as the store would."""
    outcome = project(stored, *split(envelopes))
    stored.update({job_id: replace(row) for job_id, row in outcome.rows.items()})
    return outcome


def envelope(event: Event, n: int, event_id: str | None = None) -> Envelope:
    moment = T0 + timedelta(seconds=n)
    return Envelope(event=event, source="/t", id=event_id or f"e-{n}", time=moment)


def submitted(job_id: str, **changes: object) -> JobSubmitted:
    fields: dict[str, object] = {
        "job_id": job_id,
        "user_id": user_uuid(0),
        "original_filename": "a.mp4",
        "source_key": f"sources/{job_id}/source",
        "source_size": 10,
        "source_sha256": "ab" * 32,
    }
    return JobSubmitted(**(fields | changes))  # type: ignore[arg-type]


def running_job(job_id: str) -> dict[str, JobRow]:
    """Stored rows with ``job_id`` submitted and started (attempt 1)."""
    stored: dict[str, JobRow] = {}
    run(stored, [envelope(submitted(job_id), 0), envelope(started(job_id), 1)])
    return stored


def started(job_id: str, attempt: int = 1) -> JobStarted:
    return JobStarted(job_id=job_id, worker_id="w", attempt=attempt)


def tick(job_id: str, progress: int, attempt: int = 1) -> JobProgress:
    return JobProgress(job_id=job_id, attempt=attempt, progress=progress, stage="transcode")


def test_the_recorded_stream_gives_the_expected_rows() -> None:
    stream = recorded_stream(JOBS)
    lifecycle, ticks = split(stream)
    outcome = project({}, lifecycle, ticks)
    assert outcome.created == set(outcome.rows) == {job_uuid("s", n) for n in range(JOBS)}
    assert sum(outcome.applied.values()) == len(lifecycle)
    # one tick per job survives coalescing, and it trails the job's completion: stale
    assert outcome.coalesced == len(ticks) - len({t.subject for t in ticks})
    assert dict(outcome.skipped) == {"stale_progress": len(ticks) - outcome.coalesced}
    for n in range(JOBS):
        job_id, kind = job_uuid("s", n), kind_of(n)
        row = outcome.rows[job_id]
        events = [e for e in lifecycle if e.subject == job_id]
        assert row.status == EXPECTED_STATUS[kind], (n, kind)
        assert (row.user_id, row.original_filename, row.source_size) == (
            user_uuid(n),
            f"clip-{n}.mp4",
            1000 * n,
        )
        assert row.attempts == {"retried": 2, "pending": 0, "cancelled": 0}.get(kind, 1)
        assert row.event_count == len(events)
        assert row.applied_event_ids == [e.id for e in events]
        assert row.last_event_id == events[-1].id
        assert (row.created_at, row.updated_at) == (events[0].time, events[-1].time)
        assert (row.deleted_at is not None) == (kind == "deleted")
        assert row.metadata["width"] == 1280
        if row.status == "completed":
            assert row.progress == 100
            assert row.output_path == f"outputs/{job_id}/720p"
            assert [o["name"] for o in row.outputs] == ["720p"]
            assert row.metadata["fps"] == 30.0  # completed.metadata merged over the source's
            assert row.started_at is not None and row.completed_at is not None
        if kind == "reprocessed":
            assert row.processing_options == {"preset": "p9"}
        if kind == "failed":
            assert (row.error_message, row.completed_at) == ("no video stream", events[-1].time)
            assert row.outputs == [] and row.output_path is None


def test_history_has_one_row_per_stage_and_attempt_step() -> None:
    lifecycle, ticks = split(recorded_stream(JOBS))
    outcome = project({}, lifecycle, ticks)
    retried = job_uuid("s", 1)
    assert [(h.operation, h.status, h.attempt) for h in outcome.history if h.job_id == retried] == [
        ("started", "started", 1),
        ("transcode", "ok", 1),
        ("retry_scheduled", "scheduled", 2),
        ("started", "started", 2),
        ("transcode", "ok", 2),
        ("completed", "ok", 2),
    ]
    by_event = {e.id: e for e in lifecycle}
    for history in outcome.history:
        source = by_event[history.event_id]
        assert history.id == history_id(source.id)
        assert (history.job_id, history.created_at) == (source.subject, source.time)
    without_history = {"video.job.submitted", "video.job.deleted", "video.job.cancel_requested"}
    expected = [e.id for e in lifecycle if e.type not in without_history]
    assert [h.event_id for h in outcome.history] == expected


@pytest.mark.parametrize("size", [1, 2, 7, 50])
def test_batch_boundaries_do_not_change_the_tables(size: int) -> None:
    stream = recorded_stream(JOBS, seed="b")
    whole = project({}, *split(stream))
    stored: dict[str, JobRow] = {}
    history = []
    for start in range(0, len(stream), size):
        history += run(stored, stream[start : start + size]).history
    assert stored == whole.rows
    assert history == whole.history


def test_redelivered_events_change_nothing() -> None:
    stream = recorded_stream(JOBS, seed="d")
    lifecycle, ticks = split(stream)
    stored: dict[str, JobRow] = {}
    run(stored, stream)
    before = copy.deepcopy(stored)
    again = project(stored, lifecycle, ticks)
    assert again.skipped["duplicate"] == len(lifecycle)
    assert (again.rows, again.history, again.created) == ({}, [], set())
    assert stored == before, "the caller's rows are never mutated"
    twice = project({}, lifecycle + lifecycle, ticks)
    assert twice.skipped["duplicate"] == len(lifecycle)
    assert twice.rows == project({}, lifecycle, ticks).rows


def test_events_of_unknown_jobs_and_illegal_transitions_are_skipped() -> None:
    job, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    stored = running_job(job)
    before = copy.deepcopy(stored)
    done = JobCompleted(job_id=job, worker_id="w", attempt=1, outputs=[], duration_ms=5)
    outcome = project(
        stored,
        [
            envelope(started(stranger), 2),  # nobody submitted it
            envelope(done, 3),
            envelope(started(job), 4),  # started again after completing: illegal
        ],
        [envelope(tick(stranger, 50), 5)],
    )
    assert dict(outcome.skipped) == {"unknown_job": 1, "illegal_transition": 1, "stale_progress": 1}
    assert dict(outcome.applied) == {"video.job.completed": 1}
    assert set(outcome.rows) == {job} and outcome.created == set()
    row = outcome.rows[job]
    assert (row.status, row.progress, row.event_count, row.last_event_id) == (
        "completed",
        100,
        3,
        "e-3",
    )
    assert stored == before


def test_progress_ticks_coalesce_to_the_most_advanced_per_job() -> None:
    job, other = str(uuid.uuid4()), str(uuid.uuid4())
    stored = running_job(job) | running_job(other)
    ticks = [tick(job, 30), tick(job, 70), tick(job, 50), tick(other, 20)]
    outcome = project(stored, [], [envelope(t, n, f"t-{n}") for n, t in enumerate(ticks)])
    assert outcome.coalesced == 2
    assert dict(outcome.applied) == {"video.job.progress": 2}
    assert (outcome.rows[job].progress, outcome.rows[other].progress) == (70, 20)
    assert outcome.history == [], "ticks leave no history"
    assert outcome.rows[job].event_count == 2, "ticks are not counted as lifecycle events"
    assert outcome.rows[job].applied_event_ids == ["e-0", "e-1"]

    stored = {job_id: replace(row) for job_id, row in outcome.rows.items()}
    same = project(stored, [], [envelope(tick(job, 70), 9, "t-9")])
    assert same.rows == {} and same.applied["video.job.progress"] == 1  # nothing to write
    ninety_nine = project(stored, [], [envelope(tick(job, 100), 10, "t-10")])
    assert ninety_nine.rows[job].progress == 99, "100 only comes with completion"


def test_a_later_attempt_beats_a_higher_percent() -> None:
    job = str(uuid.uuid4())
    ticks = [envelope(tick(job, 90, attempt=1), 0), envelope(tick(job, 10, attempt=2), 1)]
    assert coalesce_progress(ticks) == [ticks[1]]
    assert coalesce_progress(reversed(ticks)) == [ticks[1]]


def test_applied_event_ids_keep_only_the_latest() -> None:
    job = str(uuid.uuid4())
    stored = running_job(job)
    stored[job].applied_event_ids = [f"old-{n}" for n in range(MAX_APPLIED_IDS)]
    stage = StageCompleted(
        job_id=job, worker_id="w", attempt=1, operation="transcode", status="ok", duration_ms=1
    )
    outcome = project(stored, [envelope(stage, 2, "new")], [])
    ids = outcome.rows[job].applied_event_ids
    assert len(ids) == MAX_APPLIED_IDS
    assert (ids[0], ids[-1]) == ("old-1", "new")
    assert project(stored, [envelope(stage, 3, "old-5")], []).skipped["duplicate"] == 1


def test_values_too_long_for_their_columns_are_clipped() -> None:
    job = str(uuid.uuid4())
    event_id = "x" * 100
    long = submitted(job, original_filename="n" * 300 + ".mp4", source_key="k" * 600)
    stage = StageCompleted(
        job_id=job,
        worker_id="w" * 150,
        attempt=1,
        operation="o" * 60,
        status="ok",
        duration_ms=2**40,
    )
    outcome = project(
        {},
        [envelope(long, 0, event_id), envelope(started(job), 1), envelope(stage, 2, event_id * 2)],
        [],
    )
    row = outcome.rows[job]
    assert (len(row.original_filename), len(row.file_path)) == (255, 500)
    history = outcome.history[-1]
    assert (len(history.event_id), len(history.worker_id or ""), history.duration_ms) == (
        64,
        100,
        INT4_MAX,
    )
    assert len(history.operation) == 50
    assert row.last_event_id == (event_id * 2)[:64]


def test_completion_records_outputs_and_the_first_output_path() -> None:
    job = str(uuid.uuid4())
    outputs = [
        JobOutput(name=name, key=f"outputs/{job}/1/{name}", content_type="video/mp4", size_bytes=1)
        for name in ("720p", "480p")
    ]
    done = JobCompleted(
        job_id=job, worker_id="w", attempt=1, outputs=outputs, duration_ms=5, metadata={"x": 1}
    )
    outcome = project(running_job(job), [envelope(done, 2)], [])
    row = outcome.rows[job]
    assert row.output_path == f"outputs/{job}/1/720p"
    assert [o["key"] for o in row.outputs] == [o.key for o in outputs]
    assert (row.completed_at, row.metadata["x"]) == (T0 + timedelta(seconds=2), 1)


def test_each_step_leaves_its_history_row_and_row_effects() -> None:
    """One job through failure, retry, completion, reprocess and cancel: every history row
    column, and the row's timestamps and outputs after each step."""
    job = str(uuid.uuid4())
    out = JobOutput(
        name="720p", key=f"outputs/{job}/720p.mp4", content_type="video/mp4", size_bytes=3
    )
    steps: list[list[Event]] = [
        [
            submitted(job),
            started(job),
            StageCompleted(
                job_id=job,
                worker_id="w",
                attempt=1,
                operation="probe",
                status="ok",
                duration_ms=5,
                metadata={"k": 1},
            ),
            JobFailed(
                job_id=job,
                error_code="ffmpeg",
                message="boom",
                retryable=True,
                attempt=1,
                worker_id="w",
            ),
        ],
        [RetryScheduled(job_id=job, attempt=2, not_before=T0, reason="by hand")],
        [
            started(job, attempt=2),
            JobCompleted(job_id=job, worker_id="w", attempt=2, outputs=[out], duration_ms=7),
        ],
        [
            ReprocessRequested(
                job_id=job, processing_options={"preset": "hls"}, requested_by="u", reason="r"
            )
        ],
        [JobCancelled(job_id=job, attempt=0)],
    ]
    stored: dict[str, JobRow] = {}
    history = []
    rows: list[JobRow] = []
    n = 0
    for events in steps:
        outcome = run(stored, [envelope(e, n + i) for i, e in enumerate(events)])
        n += len(events)
        history += outcome.history
        rows.append(replace(stored[job]))
    at = [T0 + timedelta(seconds=s) for s in range(n)]
    assert [tuple(h)[3:] for h in history] == [
        ("w", "started", "started", None, 1, {}, at[1]),
        ("w", "probe", "ok", 5, 1, {"k": 1}, at[2]),
        (
            "w",
            "failed",
            "failed",
            None,
            1,
            {"error_code": "ffmpeg", "message": "boom", "retryable": True},
            at[3],
        ),
        (
            None,
            "retry_scheduled",
            "scheduled",
            None,
            2,
            {"not_before": T0.isoformat(), "reason": "by hand"},
            at[4],
        ),
        ("w", "started", "started", None, 2, {}, at[5]),
        ("w", "completed", "ok", 7, 2, {"outputs": 1}, at[6]),
        (
            None,
            "reprocess_requested",
            "requested",
            None,
            0,
            {"requested_by": "u", "reason": "r", "processing_options": {"preset": "hls"}},
            at[7],
        ),
        (None, "cancelled", "cancelled", None, 0, {}, at[8]),
    ]
    failed, retried, completed, reprocessed, cancelled = rows
    assert failed.source_sha256 == "ab" * 32
    assert (failed.started_at, failed.completed_at) == (at[1], at[3])
    assert retried.completed_at is None
    assert (completed.started_at, completed.completed_at) == (at[5], at[6])
    assert completed.outputs == [out.model_dump(mode="json")]
    assert completed.output_path == out.key
    assert (reprocessed.started_at, reprocessed.completed_at, reprocessed.output_path) == (
        None,
        None,
        None,
    )
    assert reprocessed.outputs == []
    assert cancelled.completed_at == at[8]


def test_skips_are_counted_by_reason_and_batch_ids_kept() -> None:
    job, ghost = str(uuid.uuid4()), str(uuid.uuid4())
    batch = str(uuid.uuid4())
    events: list[Event] = [
        submitted(job, batch_id=batch),
        started(ghost),  # never submitted
        started(ghost, attempt=2),
        JobCompleted(
            job_id=job, worker_id="w", attempt=1, outputs=[], duration_ms=1
        ),  # not started yet
        started(ghost, attempt=3),
    ]
    outcome = project({}, [envelope(e, n) for n, e in enumerate(events)], [])
    assert dict(outcome.skipped) == {"unknown_job": 3, "illegal_transition": 1}
    assert outcome.rows[job].batch_id == batch


def test_started_and_completed_report_their_time_since_upload() -> None:
    job = str(uuid.uuid4())
    done = JobCompleted(job_id=job, worker_id="w", attempt=1, outputs=[], duration_ms=5)
    stored: dict[str, JobRow] = {}
    first = run(stored, [envelope(submitted(job), 0), envelope(started(job), 3)])
    assert first.since_upload == [(JobStarted.type, 3.0)]
    replayed = run(stored, [envelope(started(job), 3), envelope(done, 10)])  # started: a dup
    assert replayed.since_upload == [(JobCompleted.type, 10.0)]
    assert project(stored, [envelope(done, 10)], []).since_upload == [], "a duplicate"


def test_ticks_keep_the_live_details_and_lifecycle_steps_clear_them() -> None:
    job = str(uuid.uuid4())
    stored = running_job(job)
    live = JobProgress(job_id=job, attempt=1, progress=40, stage="t" * 80, fps=25.0, eta_s=12.5)
    row = run(stored, [envelope(live, 5, "t-5")]).rows[job]
    assert (row.stage, row.fps, row.eta_s) == ("t" * 50, 25.0, 12.5)  # stage clipped
    assert row.progress_at == T0 + timedelta(seconds=5)
    odd = JobProgress(
        job_id=job, attempt=1, progress=50, stage="package", fps=float("inf"), eta_s=float("nan")
    )
    row = run(stored, [envelope(odd, 6, "t-6")]).rows[job]
    assert (row.stage, row.fps, row.eta_s) == ("package", None, None)  # JSON has no inf/nan
    fps_only = JobProgress(job_id=job, attempt=1, progress=50, stage="package", fps=30.0)
    assert run(stored, [envelope(fps_only, 7, "t-7")]).rows == {}  # nothing worth a write
    done = JobCompleted(job_id=job, worker_id="w", attempt=1, outputs=[], duration_ms=1)
    row = run(stored, [envelope(done, 8)]).rows[job]
    assert (row.stage, row.fps, row.eta_s, row.progress_at) == (None, None, None, None)


def test_a_failure_keeps_its_code_until_the_job_runs_again() -> None:
    job = str(uuid.uuid4())
    stored = running_job(job)
    run(stored, [envelope(tick(job, 30), 2, "t-2")])
    failed = JobFailed(job_id=job, error_code="x" * 80, message="m", retryable=True, attempt=1)
    row = run(stored, [envelope(failed, 3)]).rows[job]
    assert row.error_code == "x" * 50 and row.stage is None
    automatic = RetryScheduled(job_id=job, attempt=2, not_before=T0, reason="m")
    assert run(stored, [envelope(automatic, 4)]).rows[job].error_code == "x" * 50
    assert run(stored, [envelope(started(job, 2), 5)]).rows[job].error_code is None
    again = JobFailed(job_id=job, error_code="boom", message="m", retryable=False, attempt=2)
    run(stored, [envelope(again, 6)])
    manual = RetryScheduled(job_id=job, attempt=3, not_before=T0, reason="r", requested_by="u")
    assert run(stored, [envelope(manual, 7)]).rows[job].error_code is None
    run(
        stored, [envelope(started(job, 3), 8), envelope(again.model_copy(update={"attempt": 3}), 9)]
    )
    reprocess = ReprocessRequested(job_id=job, processing_options={}, reason="r", requested_by="u")
    assert stored[job].error_code == "boom"
    assert run(stored, [envelope(reprocess, 10)]).rows[job].error_code is None


def test_chunk_and_stitch_outcomes_become_history_rows_and_stale_ones_do_not() -> None:
    job_id = job_uuid("c", 0)
    stored = running_job(job_id)

    def stage(n: int, operation: str, attempt: int, worker: str, **meta: object) -> Envelope:
        event = StageCompleted(
            job_id=job_id,
            worker_id=worker,
            attempt=attempt,
            operation=operation,
            status="ok",
            duration_ms=1200,
            metadata=meta,
        )
        return envelope(event, n)

    outcome = run(
        stored,
        [
            stage(2, "chunk", 1, "host:7/0", index=0, frames=1500, media_seconds=60.0),
            stage(3, "chunk", 1, "host:8/0", index=1, frames=1490, media_seconds=59.6),
            stage(4, "chunk", 2, "host:9/0", index=1, frames=1490),  # a stale attempt's
            stage(5, "stitch", 1, "host:7", chunks=2, frames=2990),
        ],
    )
    rows = [(h.operation, h.worker_id, h.duration_ms, h.metadata) for h in outcome.history]
    assert rows == [
        ("chunk", "host:7/0", 1200, {"index": 0, "frames": 1500, "media_seconds": 60.0}),
        ("chunk", "host:8/0", 1200, {"index": 1, "frames": 1490, "media_seconds": 59.6}),
        ("stitch", "host:7", 1200, {"chunks": 2, "frames": 2990}),
    ]


def test_a_late_attempt_1_event_after_a_reprocess_is_ignored() -> None:
    """Reprocess opens attempt 2: attempt 1's late events neither start nor end the new run."""
    job = job_uuid("r", 0)
    stored = running_job(job)
    key = f"outputs/{job}/1/video.mp4"
    old = JobOutput(name="video.mp4", key=key, content_type="video/mp4", size_bytes=9)
    done_1 = JobCompleted(job_id=job, worker_id="w", attempt=1, outputs=[old], duration_ms=5)
    run(stored, [envelope(done_1, 2)])
    reprocess = ReprocessRequested(
        job_id=job, processing_options={}, requested_by="u", reason="r", attempt=2
    )
    outcome = run(stored, [envelope(reprocess, 3)])
    assert [h.attempt for h in outcome.history] == [2]  # the history shows the new run
    # the earlier attempt 1, redelivered before the new run starts: its start, its outcome
    late = [envelope(started(job, 1), 4, "late-start"), envelope(done_1, 5, "late-done")]
    outcome = run(stored, late)
    assert outcome.skipped["illegal_transition"] == 2
    assert (stored[job].status, stored[job].attempts, stored[job].outputs) == ("pending", 1, [])
    outcome = run(stored, [envelope(started(job, 2), 6)])
    assert [h.attempt for h in outcome.history] == [2]
    late = [envelope(done_1, 7, "late-done-2"), envelope(tick(job, 70, attempt=1), 8, "t")]
    outcome = run(stored, late)
    assert (outcome.skipped["illegal_transition"], outcome.skipped["stale_progress"]) == (1, 1)
    row = stored[job]
    assert (row.status, row.attempts, row.outputs, row.progress) == ("processing", 2, [], 0)
    new = old.model_copy(update={"key": f"outputs/{job}/2/video.mp4"})
    done_2 = done_1.model_copy(update={"attempt": 2, "outputs": [new]})
    run(stored, [envelope(done_2, 9)])
    assert stored[job].status == "completed"
    assert stored[job].outputs[0]["key"].endswith("/2/video.mp4")
