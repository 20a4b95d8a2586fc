"""A recorded event stream with known outcomes: interleaved job lifecycles of every kind,
with fixed ids and times, so its projection is known and reproducible (pure, no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from schemas.envelope import Envelope
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
    JobSubmitted,
    ReprocessRequested,
    RetryScheduled,
    StageCompleted,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
KINDS = ("completed", "retried", "failed", "cancelled", "deleted", "reprocessed", "pending")
EXPECTED_STATUS = {
    "completed": "completed",
    "retried": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "deleted": "completed",
    "reprocessed": "completed",
    "pending": "pending",
}


def job_uuid(seed: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}/job/{n}"))


def user_uuid(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"user/{n % 5}"))


def lifecycle(job_id: str, kind: str, n: int) -> list[Event]:
    """The events of one job whose story is ``kind``."""
    worker = f"w-{n % 3}"
    out = JobOutput(
        name="720p", key=f"outputs/{job_id}/720p", content_type="video/mp4", size_bytes=n
    )

    def run(attempt: int, tick: bool = True) -> list[Event]:
        # Ticks travel on another topic, so whether one lands before a failure depends on
        # how the two topics interleave: only runs that complete (progress 100) get one.
        ticks = [JobProgress(job_id=job_id, attempt=attempt, progress=40, stage="transcode")]
        return [
            JobStarted(job_id=job_id, worker_id=worker, attempt=attempt),
            *(ticks if tick else []),
            StageCompleted(
                job_id=job_id,
                worker_id=worker,
                attempt=attempt,
                operation="transcode",
                status="ok",
                duration_ms=1000 + n,
                metadata={"rendition": "720p"},
            ),
        ]

    def done(attempt: int) -> Event:
        return JobCompleted(
            job_id=job_id,
            worker_id=worker,
            attempt=attempt,
            outputs=[out],
            metadata={"fps": 30.0},
            duration_ms=2000 + n,
        )

    events: list[Event] = [
        JobSubmitted(
            job_id=job_id,
            user_id=user_uuid(n),
            original_filename=f"clip-{n}.mp4",
            source_key=f"sources/{job_id}/clip-{n}.mp4",
            source_size=1000 * n,
            source_sha256="ab" * 32,
            processing_options={"preset": f"p{n % 2}"},
            source_metadata={"duration_s": 12.5, "width": 1280, "height": 720},
        )
    ]
    if kind == "pending":
        return events
    if kind == "cancelled":
        return [
            *events,
            CancelRequested(job_id=job_id, requested_by=user_uuid(n)),
            JobCancelled(job_id=job_id, attempt=0),
        ]
    events += run(1, tick=kind != "failed")
    if kind == "failed":
        return [
            *events,
            JobFailed(
                job_id=job_id,
                error_code="invalid_input",
                message="no video stream",
                retryable=False,
                attempt=1,
                worker_id=worker,
            ),
        ]
    if kind == "retried":
        events += [RetryScheduled(job_id=job_id, attempt=2, not_before=T0, reason="ffmpeg 137")]
        events += run(2)
        return [*events, done(2)]
    events.append(done(1))
    if kind == "deleted":
        events.append(JobDeleted(job_id=job_id, requested_by=user_uuid(n)))
    if kind == "reprocessed":
        events.append(
            ReprocessRequested(
                job_id=job_id, processing_options={"preset": "p9"}, requested_by="replay"
            )
        )
        events += [*run(1), done(1)]
    return events


def recorded_stream(jobs: int, seed: str = "s") -> list[Envelope]:
    """Interleaved lifecycles of ``jobs`` jobs, with fixed ids and times (deterministic)."""
    stories = [lifecycle(job_uuid(seed, n), KINDS[n % len(KINDS)], n) for n in range(jobs)]
    out: list[Envelope] = []
    step = 0
    while any(stories):
        for story in stories:
            if story:
                event = story.pop(0)
                moment = T0 + timedelta(milliseconds=step)
                out.append(
                    Envelope(
                        event=event,
                        source="/test",
                        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}/{step}")),
                        time=moment,
                    )
                )
                step += 1
    return out


def kind_of(n: int) -> str:
    return KINDS[n % len(KINDS)]
