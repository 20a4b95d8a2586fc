"""What a browser receives: log events and read-model rows as named SSE notifications.

Pure: no I/O. Event names follow the seed: ``progress_update``, ``job_complete``,
``error_notification``, and ``job_update`` for every other change of a job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.envelope import Envelope
from schemas.events import (
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
)

PROGRESS_UPDATE = "progress_update"
JOB_COMPLETE = "job_complete"
ERROR_NOTIFICATION = "error_notification"
JOB_UPDATE = "job_update"

# The status a job_update implies; types absent here (stage_completed, cancel_requested)
# leave the status as it was.
_IMPLIED_STATUS: dict[str, str] = {
    JobSubmitted.type: JobStatus.PENDING,
    JobStarted.type: JobStatus.PROCESSING,
    RetryScheduled.type: JobStatus.PENDING,
    JobCancelled.type: JobStatus.CANCELLED,
    JobDeleted.type: "deleted",  # not a status a row keeps: the job is gone for the client
    ReprocessRequested.type: JobStatus.PENDING,
}


@dataclass(frozen=True, slots=True)
class Notification:
    """One SSE event before it gets its id: ``name`` and JSON ``data``."""

    job_id: str
    name: str
    data: str
    produced_at: float
    """Epoch seconds of the event's ``ce_time`` (snapshots: the row's ``updated_at``)."""


def _json(payload: Mapping[str, Any]) -> str:
    # compact JSON never contains a raw newline, so it fits one SSE ``data:`` line
    return json.dumps(payload, separators=(",", ":"), default=str, ensure_ascii=False)


def from_envelope(envelope: Envelope) -> Notification:
    """The notification a log event becomes."""
    event = envelope.event
    base: dict[str, Any] = {
        "job_id": event.job_id,
        "event_id": envelope.id,
        "time": envelope.time.isoformat(),
    }
    match event:
        case JobProgress():
            name = PROGRESS_UPDATE
            base |= {"progress": event.progress, "stage": event.stage, "fps": event.fps}
            base |= {"eta": event.eta_s, "attempt": event.attempt}
        case JobCompleted():
            name = JOB_COMPLETE
            outputs = [output.model_dump(mode="json") for output in event.outputs]
            base |= {"status": JobStatus.COMPLETED, "progress": 100, "outputs": outputs}
        case JobFailed():
            name = ERROR_NOTIFICATION
            base |= {"status": JobStatus.FAILED, "error_message": event.message}
            base |= {"error_code": event.error_code, "retryable": event.retryable}
        case _:
            name = JOB_UPDATE
            base |= {"type": event.type, "status": _IMPLIED_STATUS.get(event.type)}
            base["data"] = event.model_dump(mode="json", exclude={"job_id"})
    return Notification(event.job_id, name, _json(base), envelope.time.timestamp())


def from_row(row: Mapping[str, Any]) -> Notification:
    """The current state of a job (a ``jobs`` row), sent first when a client connects."""
    status = str(row["status"])
    payload: dict[str, Any] = {
        "job_id": str(row["id"]),
        "snapshot": True,
        "status": status,
        "progress": row["progress"],
    }
    if status == JobStatus.COMPLETED:
        name = JOB_COMPLETE
        payload["outputs"] = row["outputs"]
    elif status == JobStatus.FAILED:
        name = ERROR_NOTIFICATION
        payload["error_message"] = row["error_message"]
    else:
        name = JOB_UPDATE
        payload["error_message"] = row["error_message"]
    updated: datetime = row["updated_at"]
    payload["time"] = updated.isoformat()
    return Notification(payload["job_id"], name, _json(payload), updated.timestamp())


def render(notification: Notification, event_id: str) -> bytes:
    """The bytes of one SSE event on the wire."""
    return (f"id: {event_id}\nevent: {notification.name}\ndata: {notification.data}\n\n").encode()
