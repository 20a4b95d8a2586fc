"""The read model's rows as plain Python values, and how the state machine's fields go back.

Pure: no I/O. ``JOB_COLUMNS`` / ``HISTORY_COLUMNS`` list the columns in table order so the
PostgreSQL adapter can bulk-copy rows without naming them twice. Reading a row into a
``JobState`` is ``services.core.domain.columns.job_state``, shared with ingest.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple

from services.core.domain.columns import INT4_MAX, WORKER_ID_MAX, clip
from services.core.domain.jobstate import JobState

MAX_APPLIED_IDS = 200
"""Event ids remembered per job; a job has a few dozen events, so this is all of them."""

_HISTORY_NAMESPACE = uuid.UUID("0d6f8f5e-4a56-4c1e-9d1b-6c0b8f7f6a10")
is_canonical_uuid: Callable[[str], object] = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
).match
"""Truthy for exactly the strings with ``str(uuid.UUID(s)) == s``: no parsing needed."""


@dataclass(slots=True)
class JobRow:
    """One ``jobs`` row; field order is the table's column order."""

    id: str
    user_id: str
    original_filename: str
    file_path: str
    output_path: str | None
    status: str
    processing_options: dict[str, Any]
    progress: int
    error_message: str | None
    attempts: int
    worker_id: str | None
    outputs: list[dict[str, Any]]
    metadata: dict[str, Any]
    source_size: int
    source_sha256: str
    batch_id: str | None
    cancel_requested: bool
    retry_not_before: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    last_event_id: str | None
    event_count: int
    applied_event_ids: list[str] = field(default_factory=list)
    # what the latest progress tick said (for the UI's stage, ETA and the admin's workers)
    stage: str | None = None
    fps: float | None = None
    eta_s: float | None = None
    progress_at: datetime | None = None
    error_code: str | None = None


class HistoryRow(NamedTuple):
    """One ``processing_history`` row; ``id`` derives from the event id so replays match.

    A named tuple: one is built per event, and it already is the row in column order."""

    id: str
    job_id: str
    event_id: str
    worker_id: str | None
    operation: str
    status: str
    duration_ms: int | None
    attempt: int
    metadata: dict[str, Any]
    created_at: datetime


JOB_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(JobRow))
HISTORY_COLUMNS: tuple[str, ...] = HistoryRow._fields
JSON_JOB_COLUMNS = frozenset({"processing_options", "outputs", "metadata"})


def canonical_uuid(value: str) -> str | None:
    """``str(uuid.UUID(value))``, or None when ``value`` is not a UUID."""
    if is_canonical_uuid(value):
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def history_id(event_id: str) -> str:
    """A deterministic row id, so a rebuild produces byte-identical tables."""
    if len(event_id) == 36:  # producers use uuid4 event ids: reuse them
        same = canonical_uuid(event_id)
        if same is not None:
            return same
    return str(uuid.uuid5(_HISTORY_NAMESPACE, event_id))


job_values: Callable[[JobRow], tuple[Any, ...]] = attrgetter(*JOB_COLUMNS)
"""The row as a tuple in column order."""


def copy_state(row: JobRow, state: JobState) -> None:
    """Write the state machine's fields back into the row (outputs are set per event)."""
    row.status = state.status
    row.attempts = min(state.attempt, INT4_MAX)
    row.progress = state.progress
    row.cancel_requested = state.cancel_requested
    row.processing_options = state.processing_options
    row.error_message = state.error_message
    row.retry_not_before = state.retry_not_before
    row.worker_id = clip(state.worker_id, WORKER_ID_MAX)
