"""The read model's columns as the domain sees them: their limits, clipping, and a stored job row
back into the state machine's :class:`JobState`. Pure: no I/O, no SQLAlchemy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from schemas.events import JobOutput, JobStatus
from services.core.domain.jobstate import JobState

# Column limits: the tables below, ingest's request validation and the projector's clipping
# read them from here, so a value accepted by one always fits the others.
FILENAME_MAX = 255
STORAGE_KEY_MAX = 500
STATUS_MAX = 20
WORKER_ID_MAX = 100
SHA256_MAX = 64
EVENT_ID_MAX = 64
OPERATION_MAX = 50
ERROR_CODE_MAX = 50
GROUP_MAX = 100
TOPIC_MAX = 249  # Kafka's own limit on topic names
INT4_MAX = 2**31 - 1
"""Largest value of an ``Integer`` column; numbers in events are not bounded."""


def clip(value: str | None, limit: int) -> str | None:
    """Fit a free-text value to its column: a long value must never fail a whole batch."""
    return None if value is None else value[:limit]


class StoredJob(Protocol):
    """The ``jobs`` columns the state machine needs, as attributes: a SQLAlchemy row or the
    projector's ``JobRow`` both fit."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def progress(self) -> int: ...
    @property
    def cancel_requested(self) -> bool: ...
    @property
    def deleted_at(self) -> datetime | None: ...
    @property
    def processing_options(self) -> Mapping[str, Any] | None: ...
    @property
    def error_message(self) -> str | None: ...
    @property
    def retry_not_before(self) -> datetime | None: ...
    @property
    def outputs(self) -> Sequence[Mapping[str, Any]] | None: ...
    @property
    def worker_id(self) -> str | None: ...


def job_state(row: StoredJob) -> JobState:
    """What the state machine knows about a stored job (the projector only stores
    :class:`JobStatus` values, so ``status`` always converts)."""
    return JobState(
        job_id=str(row.id),
        status=JobStatus(row.status),
        attempt=row.attempts,
        progress=row.progress,
        cancel_requested=row.cancel_requested,
        deleted=row.deleted_at is not None,
        processing_options=dict(row.processing_options or {}),
        error_message=row.error_message,
        retry_not_before=row.retry_not_before,
        outputs=tuple(JobOutput.model_validate(o) for o in row.outputs or ()),
        worker_id=row.worker_id,
    )
