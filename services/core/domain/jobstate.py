"""The job state machine: which events are legal in which state, and what they do.

Pure: standard library and ``schemas.events`` only, no I/O. The projector folds the log
through :func:`apply`; ingest asks :func:`legal` (or reads :data:`ALLOWED`) before it
produces an event, so an illegal request is refused instead of written, and asks
:func:`may_retry` and :func:`delete_requires_cancel` for the rules of user commands.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from schemas.events import (
    CancelRequested,
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

TERMINAL_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
)
ACTIVE_STATUSES: frozenset[JobStatus] = frozenset({JobStatus.PENDING, JobStatus.PROCESSING})
"""Statuses in which a worker may still pick the job up or be running it."""

MANUAL_RETRY_FROM: frozenset[JobStatus] = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
"""Statuses a user may retry from; ``processing`` retries only on its own, after a failure."""

# Types legal on a job nobody has heard of yet.
ALLOWED_ON_UNKNOWN: frozenset[str] = frozenset({JobSubmitted.type})

ALLOWED: Mapping[JobStatus, frozenset[str]] = MappingProxyType(
    {
        JobStatus.PENDING: frozenset(
            {
                JobStarted.type,
                JobFailed.type,
                CancelRequested.type,
                JobCancelled.type,
                JobDeleted.type,
            }
        ),
        JobStatus.PROCESSING: frozenset(
            {
                StageCompleted.type,
                JobProgress.type,
                JobCompleted.type,
                JobFailed.type,
                RetryScheduled.type,
                CancelRequested.type,
                JobCancelled.type,
                JobDeleted.type,
            }
        ),
        JobStatus.COMPLETED: frozenset({ReprocessRequested.type, JobDeleted.type}),
        JobStatus.FAILED: frozenset(
            {RetryScheduled.type, ReprocessRequested.type, JobDeleted.type}
        ),
        JobStatus.CANCELLED: frozenset(
            {RetryScheduled.type, ReprocessRequested.type, JobDeleted.type}
        ),
    }
)
"""Event types each status accepts, before the finer checks of :func:`legal` and :func:`apply`
(deleted jobs, a pending cancel, stale attempts)."""


@dataclass(frozen=True)
class JobState:
    """What the log says about one job after the events seen so far."""

    job_id: str
    status: JobStatus
    attempt: int = 0
    progress: int = 0
    cancel_requested: bool = False
    deleted: bool = False
    processing_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    error_message: str | None = None
    retry_not_before: datetime | None = None
    outputs: tuple[JobOutput, ...] = ()
    worker_id: str | None = None
    priority: int = 0
    """Turn order from ``submitted`` (lower first); workers order what they fetched by it."""
    first_attempt: int = 1
    """First attempt of the current run (1, or a reprocess's): automatic retries count from it."""


class IllegalTransition(Exception):
    """An event that the job's current state does not accept."""

    def __init__(self, status: JobStatus | None, event_type: str, reason: str = "") -> None:
        self.status = status
        self.event_type = event_type
        self.reason = reason
        where = "an unknown job" if status is None else f"a {status} job"
        super().__init__(
            f"{event_type} is not allowed on {where}" + (f": {reason}" if reason else "")
        )


def is_terminal(status: JobStatus) -> bool:
    """True for statuses no worker will move on its own: completed, failed, cancelled."""
    return status in TERMINAL_STATUSES


def _refusal(state: JobState | None, event_type: str) -> str | None:
    """Why ``event_type`` is illegal on ``state`` (without looking at the payload), else None."""
    if state is None:
        return None if event_type in ALLOWED_ON_UNKNOWN else "the job does not exist"
    if state.deleted:
        return "the job was deleted"
    if event_type not in ALLOWED[state.status]:
        return "not accepted in this status"
    if event_type == JobStarted.type and state.cancel_requested:
        return "a cancel was requested; the worker must cancel, not start"
    return None


def legal(state: JobState | None, event_type: str) -> bool:
    """Whether an event of ``event_type`` may happen to ``state`` (``None``: unknown job).

    Stale attempt numbers depend on the payload, so :func:`apply` may still refuse an
    event of a legal type.
    """
    return _refusal(state, event_type) is None


def may_retry(state: JobState | None) -> bool:
    """Whether a user may retry the job: only a failed or cancelled one that still exists.

    ``retry_scheduled`` is also legal on a ``processing`` job, but only as the worker's
    automatic retry after a failure; a user's retry of a running job is refused.
    """
    return state is not None and not state.deleted and state.status in MANUAL_RETRY_FROM


def delete_requires_cancel(state: JobState) -> bool:
    """Whether deleting the job must first request a cancel: a worker may be running it,
    and only a ``cancel_requested`` makes the worker stop (a repeated request is not needed).
    """
    return not state.deleted and state.status in ACTIVE_STATUSES and not state.cancel_requested


def apply(state: JobState | None, event: Event) -> JobState:
    """Return the state after ``event``; raise :class:`IllegalTransition` if it is illegal."""
    status = None if state is None else state.status
    reason = _refusal(state, event.type)
    if reason is not None:
        raise IllegalTransition(status, event.type, reason)
    if state is None:
        assert isinstance(event, JobSubmitted)  # _refusal lets nothing else through
        return JobState(
            job_id=event.job_id,
            status=JobStatus.PENDING,
            processing_options=dict(event.processing_options),
            priority=event.priority,
        )
    stale_checked = StageCompleted | JobProgress | JobCompleted
    if isinstance(event, stale_checked) and event.attempt != state.attempt:
        raise IllegalTransition(
            status, event.type, f"stale attempt {event.attempt}, current is {state.attempt}"
        )
    if isinstance(event, JobStarted) and event.attempt <= state.attempt:
        # attempts only grow over a job's life: a started at or below the last one is late
        raise IllegalTransition(
            status, event.type, f"stale attempt {event.attempt}, last was {state.attempt}"
        )
    if _stale_outcome(state, event):
        # a worker cut off mid-attempt may publish its outcome after the job was redone
        raise IllegalTransition(
            status, event.type, f"outcome of stale attempt, current is {state.attempt}"
        )
    return _transition(state, event)


def _stale_outcome(state: JobState, event: Event) -> bool:
    """A ``failed`` / automatic ``retry_scheduled`` that ends an attempt other than the current,
    or (pending) a ``failed`` of an attempt that already ended (e.g. before a reprocess)."""
    if state.status == JobStatus.PENDING:
        return isinstance(event, JobFailed) and 0 < event.attempt <= state.attempt
    if state.status != JobStatus.PROCESSING:
        return False
    if isinstance(event, JobFailed):
        return event.attempt != state.attempt
    if isinstance(event, RetryScheduled):
        return event.attempt != state.attempt + 1
    return False


def _transition(state: JobState, event: Event) -> JobState:
    """The effect of an event already known to be legal."""
    replace = dataclasses.replace
    match event:
        case JobStarted():
            return replace(
                state,
                status=JobStatus.PROCESSING,
                attempt=event.attempt,
                worker_id=event.worker_id,
                progress=0,
                error_message=None,
                retry_not_before=None,
            )
        case StageCompleted():
            return state
        case JobProgress():
            # Ticks arrive out of order across partitions and retries: never go backwards,
            # and keep 100 for the completed event.
            return replace(state, progress=max(state.progress, min(event.progress, 99)))
        case JobCompleted():
            return replace(
                state,
                status=JobStatus.COMPLETED,
                progress=100,
                outputs=tuple(event.outputs),
                worker_id=event.worker_id,
                error_message=None,
            )
        case JobFailed():
            return replace(state, status=JobStatus.FAILED, error_message=event.message)
        case RetryScheduled():
            return _retry(state, event)
        case CancelRequested():
            return replace(state, cancel_requested=True)
        case JobCancelled():
            return replace(state, status=JobStatus.CANCELLED)
        case JobDeleted():
            return replace(state, deleted=True)
        case ReprocessRequested():
            # the new run continues the count (its attempt is one more than any before);
            # events written before the field existed restarted it, and replay must agree
            first = 1 if event.attempt is None else event.attempt
            return JobState(
                job_id=state.job_id,
                status=JobStatus.PENDING,
                attempt=first - 1,
                processing_options=dict(event.processing_options),
                priority=state.priority,
                first_attempt=first,
            )
    raise IllegalTransition(state.status, event.type, "unknown event type")


def _retry(state: JobState, event: RetryScheduled) -> JobState:
    """Back to pending: automatic after a retryable failure, or manual from failed/cancelled."""
    # Automatic retries come from processing and keep the error as the reason (and a pending
    # cancel); a manual retry supersedes both the old error and an earlier cancel.
    automatic = state.status == JobStatus.PROCESSING
    return dataclasses.replace(
        state,
        status=JobStatus.PENDING,
        progress=0,
        retry_not_before=event.not_before,
        worker_id=None,
        error_message=event.reason if automatic else None,
        cancel_requested=state.cancel_requested if automatic else False,
    )
