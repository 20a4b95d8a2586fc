"""Fold a batch of events into read-model rows: the projector's pure core, no I/O.

The caller loads the stored rows of the jobs a batch touches, :func:`project` applies the
events through the job state machine (``services.core.domain.jobstate``) and returns the rows to
write back, the history rows to insert, and what it applied or skipped and why.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from schemas.envelope import Envelope
from schemas.events import (
    Event,
    JobCancelled,
    JobCompleted,
    JobDeleted,
    JobFailed,
    JobProgress,
    JobStarted,
    JobStatus,
    JobSubmitted,
    ReprocessRequested,
    RetryScheduled,
    StageCompleted,
)
from services.core.domain.columns import (
    ERROR_CODE_MAX,
    EVENT_ID_MAX,
    FILENAME_MAX,
    INT4_MAX,
    OPERATION_MAX,
    SHA256_MAX,
    STATUS_MAX,
    STORAGE_KEY_MAX,
    WORKER_ID_MAX,
    clip,
    job_state,
)
from services.core.domain.jobstate import IllegalTransition, JobState, apply
from services.projector.rows import MAX_APPLIED_IDS, HistoryRow, JobRow, copy_state, history_id

log = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    """What a batch changes, plus counters for metrics."""

    rows: dict[str, JobRow] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    """Ids of ``rows`` that were not among the stored rows: jobs submitted in this batch."""
    history: list[HistoryRow] = field(default_factory=list)
    applied: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    coalesced: int = 0
    since_upload: list[tuple[str, float]] = field(default_factory=list)
    """(event type, seconds from the job's submission) of each applied started/completed."""


@dataclass(slots=True)
class _Tracked:
    row: JobRow
    state: JobState
    seen: set[str]
    applied: list[str]  # the row's applied_event_ids, trimmed once at the end of the batch


def coalesce_progress(ticks: Iterable[Envelope]) -> list[Envelope]:
    """One tick per job: the most advanced (latest attempt, then highest percent)."""
    best: dict[str, Envelope] = {}
    for envelope in ticks:
        event = envelope.event
        assert isinstance(event, JobProgress)
        current = best.get(event.job_id)
        if current is None or _rank(event) > _rank(current.event):
            best[event.job_id] = envelope
    return list(best.values())


def _rank(event: Event) -> tuple[int, int]:
    assert isinstance(event, JobProgress)
    return event.attempt, event.progress


def project(
    stored: Mapping[str, JobRow], lifecycle: Sequence[Envelope], ticks: Sequence[Envelope]
) -> BatchOutcome:
    """Apply ``lifecycle`` events in order, then the coalesced progress ``ticks``."""
    batch = _Batch(stored)
    for envelope in lifecycle:
        batch.apply_lifecycle(envelope)
    coalesced = coalesce_progress(ticks)
    batch.outcome.coalesced = len(ticks) - len(coalesced)
    for envelope in coalesced:
        batch.apply_progress(envelope)
    return batch.finish()


class _Batch:
    def __init__(self, stored: Mapping[str, JobRow]) -> None:
        self._stored = stored
        self._jobs: dict[str, _Tracked] = {}
        self.outcome = BatchOutcome()

    def _tracked(self, job_id: str) -> _Tracked | None:
        tracked = self._jobs.get(job_id)
        if tracked is None and job_id in self._stored:  # first seen in this batch: load it
            row = replace(self._stored[job_id])  # never mutate the caller's rows
            ids = list(row.applied_event_ids)
            tracked = _Tracked(row, job_state(row), set(ids), ids)
            self._jobs[job_id] = tracked
        return tracked

    def finish(self) -> BatchOutcome:
        """Copy each changed job's final state into its row: once per job, not per event."""
        for job_id, row in self.outcome.rows.items():
            tracked = self._jobs[job_id]
            copy_state(row, tracked.state)  # columns disjoint from _effects': order is free
            row.applied_event_ids = tracked.applied[-MAX_APPLIED_IDS:]
        return self.outcome

    def apply_lifecycle(self, envelope: Envelope) -> None:
        event, event_id = envelope.event, envelope.id
        tracked = self._jobs.get(event.job_id) or self._tracked(event.job_id)
        if tracked is not None and event_id in tracked.seen:
            self.outcome.skipped["duplicate"] += 1
            return
        try:
            state = apply(None if tracked is None else tracked.state, event)
        except IllegalTransition as exc:
            reason = "unknown_job" if tracked is None else "illegal_transition"
            self.outcome.skipped[reason] += 1
            log.warning(
                "skipped event: %s",
                exc,
                extra={"job_id": event.job_id, "event_id": envelope.id, "reason": reason},
            )
            return
        if tracked is None:
            assert isinstance(event, JobSubmitted)
            tracked = _Tracked(_new_row(envelope, event), state, set(), [])
            self._jobs[event.job_id] = tracked
            self.outcome.created.add(event.job_id)
        tracked.state = state
        row = tracked.row
        _effects(row, envelope)
        tracked.seen.add(event_id)
        tracked.applied.append(event_id)
        row.last_event_id = event_id[:EVENT_ID_MAX]
        row.event_count += 1
        row.updated_at = envelope.time
        self.outcome.rows[event.job_id] = row
        self.outcome.applied[event.type] += 1
        if isinstance(event, JobStarted | JobCompleted):
            waited = (envelope.time - row.created_at).total_seconds()
            self.outcome.since_upload.append((event.type, waited))
        history = _history(envelope)
        if history is not None:
            self.outcome.history.append(history)

    def apply_progress(self, envelope: Envelope) -> None:
        tracked = self._tracked(envelope.event.job_id)
        try:
            if tracked is None:
                raise IllegalTransition(None, JobProgress.type, "the job does not exist")
            state = apply(tracked.state, envelope.event)
        except IllegalTransition as exc:
            # Ticks routinely trail their job's completion: expected, so only at DEBUG.
            self.outcome.skipped["stale_progress"] += 1
            log.debug("skipped progress tick: %s", exc, extra={"job_id": envelope.subject})
            return
        tick = envelope.event
        assert isinstance(tick, JobProgress)
        row = tracked.row
        stage = clip(tick.stage, OPERATION_MAX)
        if state.progress != tracked.state.progress or stage != row.stage:
            tracked.state = state  # finish() copies it into the row
            # the live details ride along when the row is written: fps alone writes nothing
            row.stage, row.fps, row.eta_s = stage, _finite(tick.fps), _finite(tick.eta_s)
            row.progress_at = envelope.time
            self.outcome.rows[state.job_id] = row
        self.outcome.applied[JobProgress.type] += 1


def _new_row(envelope: Envelope, event: JobSubmitted) -> JobRow:
    return JobRow(
        id=event.job_id,
        user_id=event.user_id,
        original_filename=event.original_filename[:FILENAME_MAX],
        file_path=event.source_key[:STORAGE_KEY_MAX],
        output_path=None,
        status=JobStatus.PENDING,
        processing_options=dict(event.processing_options),
        progress=0,
        error_message=None,
        attempts=0,
        worker_id=None,
        outputs=[],
        metadata=dict(event.source_metadata),
        source_size=event.source_size,
        source_sha256=event.source_sha256[:SHA256_MAX],
        batch_id=event.batch_id,
        cancel_requested=False,
        retry_not_before=None,
        deleted_at=None,
        created_at=envelope.time,
        started_at=None,
        completed_at=None,
        updated_at=envelope.time,
        last_event_id=None,
        event_count=0,
    )


def _effects(row: JobRow, envelope: Envelope) -> None:
    """Columns the state machine does not track: timestamps, outputs, metadata."""
    moment: datetime = envelope.time
    match envelope.event:
        case StageCompleted():
            pass  # the most frequent event, first: it only adds history
        case JobStarted():
            row.started_at = moment
            row.completed_at = None
            row.error_code = None
            _clear_live(row)
        case JobCompleted() as event:
            _clear_live(row)
            row.completed_at = moment
            row.outputs = [o.model_dump(mode="json") for o in event.outputs]
            row.output_path = event.outputs[0].key[:STORAGE_KEY_MAX] if event.outputs else None
            row.metadata = {**row.metadata, **event.metadata}
        case JobFailed() as event:
            row.completed_at = moment  # the moment the job reached a terminal status
            row.error_code = clip(event.error_code, ERROR_CODE_MAX)
            _clear_live(row)
        case JobCancelled():
            row.completed_at = moment
            _clear_live(row)
        case RetryScheduled() as event:
            row.completed_at = None
            if event.requested_by is not None:  # a manual retry supersedes the old error
                row.error_code = None
        case ReprocessRequested():
            row.error_code = None
            row.started_at = row.completed_at = row.output_path = None
            row.outputs = []
        case JobDeleted():
            row.deleted_at = moment


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) and value >= 0 else None


def _clear_live(row: JobRow) -> None:
    row.stage = row.fps = row.eta_s = row.progress_at = None


def _history(envelope: Envelope) -> HistoryRow | None:
    """A ``processing_history`` row for stages and for the lifecycle steps of an attempt.

    A lifecycle row's operation names the step; its status is the outcome, the job's new
    status where the step ends the attempt in one (failed, cancelled).
    """
    event = envelope.event
    worker: str | None = None
    attempt = 0
    duration: int | None = None
    details: dict[str, Any] = {}
    status: str
    match event:
        case StageCompleted():
            operation, status, duration = event.operation, event.status, event.duration_ms
            worker, attempt, details = event.worker_id, event.attempt, event.metadata
        case JobStarted():
            operation, status, worker, attempt = (
                "started",
                "started",
                event.worker_id,
                event.attempt,
            )
        case JobCompleted():
            operation, status, duration = "completed", "ok", event.duration_ms
            worker, attempt = event.worker_id, event.attempt
            details = {"outputs": len(event.outputs)}
        case JobFailed():
            operation, status = "failed", JobStatus.FAILED
            worker, attempt = event.worker_id, event.attempt
            details = {"error_code": event.error_code, "message": event.message}
            details["retryable"] = event.retryable
        case RetryScheduled():
            operation, status, attempt = "retry_scheduled", "scheduled", event.attempt
            details = {"not_before": event.not_before.isoformat(), "reason": event.reason}
        case JobCancelled():
            operation, status, worker = "cancelled", JobStatus.CANCELLED, event.worker_id
            attempt = event.attempt
        case ReprocessRequested():
            operation, status = "reprocess_requested", "requested"
            attempt = event.attempt or 0  # the run it opens
            details = {"requested_by": event.requested_by, "reason": event.reason}
            details["processing_options"] = dict(event.processing_options)
        case _:
            return None
    event_id = envelope.id
    return HistoryRow(  # positional: one per event, and keywords cost a third of the time
        history_id(event_id),
        event.job_id,
        event_id[:EVENT_ID_MAX],
        None if worker is None else worker[:WORKER_ID_MAX],
        operation[:OPERATION_MAX],
        status[:STATUS_MAX],
        None if duration is None else min(duration, INT4_MAX),
        min(attempt, INT4_MAX),
        details,
        envelope.time,
    )
