"""What the transcoder knows about jobs from the log, and what it should do about each record.

Pure: no I/O. A worker reads its partitions from the committed offset, so it may meet a job in
the middle of its life (a retry or reprocess of a job whose submission was committed long
ago): :func:`fold` seeds such jobs from the events that carry enough to run them and ignores
the rest. Illegal or stale events (duplicates from at-least-once delivery, late events of an
abandoned attempt) leave the state unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from schemas.events import (
    CancelRequested,
    Event,
    JobDeleted,
    JobStatus,
    JobSubmitted,
    ReprocessRequested,
    RetryScheduled,
)
from services.core.domain.jobstate import IllegalTransition, JobState, apply

log = logging.getLogger(__name__)

TRIGGERS = frozenset({JobSubmitted.type, RetryScheduled.type, ReprocessRequested.type})
STOPS = frozenset({CancelRequested.type, JobDeleted.type})


def fold(state: JobState | None, event: Event) -> JobState | None:
    """The state after ``event``; unchanged when the event is illegal for it."""
    try:
        return apply(state, event)
    except IllegalTransition as exc:
        if state is None:
            return _seed(event)
        log.debug("ignored %s for job %s: %s", event.type, event.job_id, exc)
        return state


def _seed(event: Event) -> JobState | None:
    """A state for a job first met mid-life, when the event says enough to run it."""
    if isinstance(event, ReprocessRequested):
        first = event.attempt or 1
        return JobState(
            event.job_id,
            JobStatus.PENDING,
            attempt=first - 1,
            processing_options=dict(event.processing_options),
            first_attempt=first,
        )
    if isinstance(event, RetryScheduled) and event.processing_options is not None:
        return JobState(
            event.job_id,
            JobStatus.PENDING,
            attempt=event.attempt - 1,
            processing_options=dict(event.processing_options),
            retry_not_before=event.not_before,
        )
    return None


Action = Literal["run", "cancel", "retry_orphan", "nothing"]


@dataclass(frozen=True)
class Decision:
    """What to do about a job, judged from its state once the log has been read up to now."""

    action: Action
    attempt: int = 0
    not_before: datetime | None = None
    first_attempt: int = 1
    """First attempt of the job's current run: the retry budget counts from it."""


def decide(state: JobState | None, *, running_here: bool) -> Decision:
    """Decide for a job whose latest trigger (or the end of catch-up) was just read.

    ``running_here``: this worker already queued or runs the job, so nothing new starts.
    A job ``processing`` that nobody here runs was left by a lost worker.
    """
    if state is None or state.deleted or running_here:
        return Decision("nothing")
    if state.status == JobStatus.PENDING:
        if state.cancel_requested:
            return Decision("cancel", attempt=state.attempt)
        return Decision(
            "run",
            attempt=state.attempt + 1,
            not_before=state.retry_not_before,
            first_attempt=state.first_attempt,
        )
    if state.status == JobStatus.PROCESSING:
        if state.cancel_requested:
            return Decision("cancel", attempt=state.attempt)
        return Decision("retry_orphan", attempt=state.attempt, first_attempt=state.first_attempt)
    return Decision("nothing")
