"""One fixed example of every event and record, shared by the AsyncAPI document and the tests.

Values are constants (no random ids, no clock) so the generated files stay byte-identical.
A new event type needs an entry in ``EXAMPLE_EVENTS``; a test says so when it is missing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.analytics import MinuteAggregate
from schemas.events import (
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
    JobSubmitted,
    ReprocessRequested,
    RetryScheduled,
    StageCompleted,
)

JOB_ID = "6f1c2d4e-8a7b-4c3d-9e0f-1a2b3c4d5e6f"
USER_ID = "3b9e7c1a-5d2f-4e8b-a6c0-9f1d2e3c4b5a"
WORKER_ID = "transcoder-1:worker-3"
MOMENT = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
OPTIONS: dict[str, Any] = {"preset": "h264-720p"}

_EXAMPLES: tuple[Event, ...] = (
    JobSubmitted(
        job_id=JOB_ID,
        user_id=USER_ID,
        original_filename="holiday.mov",
        source_key=f"sources/{JOB_ID}/source",
        source_size=10_485_760,
        source_sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        processing_options=OPTIONS,
        source_metadata={"duration_s": 12.5, "width": 1920, "height": 1080},
    ),
    JobStarted(job_id=JOB_ID, worker_id=WORKER_ID, attempt=1),
    StageCompleted(
        job_id=JOB_ID,
        worker_id=WORKER_ID,
        attempt=1,
        operation="transcode",
        status="ok",
        duration_ms=8_200,
        metadata={"outputs": ["video.mp4"], "media_seconds": 12.5},
    ),
    JobProgress(job_id=JOB_ID, attempt=1, progress=40, stage="transcode", fps=96.0, speed=3.2),
    JobCompleted(
        job_id=JOB_ID,
        worker_id=WORKER_ID,
        attempt=1,
        outputs=[  # the main output first, then the poster frame and the hover preview
            JobOutput(
                name="video.mp4",
                key=f"outputs/{JOB_ID}/1/video.mp4",
                content_type="video/mp4",
                size_bytes=2_097_152,
            ),
            JobOutput(
                name="thumbnail.jpg",
                key=f"outputs/{JOB_ID}/1/thumbnail.jpg",
                content_type="image/jpeg",
                size_bytes=48_213,
            ),
            JobOutput(
                name="preview.mp4",
                key=f"outputs/{JOB_ID}/1/preview.mp4",
                content_type="video/mp4",
                size_bytes=183_402,
            ),
        ],
        duration_ms=9_900,
    ),
    JobFailed(
        job_id=JOB_ID,
        error_code="invalid_input",
        message="The upload has no video stream.",
        retryable=False,
        attempt=1,
        worker_id=WORKER_ID,
    ),
    RetryScheduled(job_id=JOB_ID, attempt=2, not_before=MOMENT, reason="ffmpeg exited with 137"),
    CancelRequested(job_id=JOB_ID, requested_by=USER_ID),
    JobCancelled(job_id=JOB_ID, worker_id=WORKER_ID, attempt=1),
    JobDeleted(job_id=JOB_ID, requested_by=USER_ID),
    ReprocessRequested(
        job_id=JOB_ID, processing_options=OPTIONS, requested_by="replay", reason="new preset"
    ),
    ChunkRequested(
        job_id=JOB_ID,
        attempt=1,
        index=2,
        count=10,
        start_frame=3600,
        frames=1500,
        start_s=120.0,
        frame_s=0.04,
        processing_options=OPTIONS,
        priority=3,
        prefix=f"outputs/{JOB_ID}/1/chunks/",
    ),
)

EXAMPLE_EVENTS: dict[type[Event], Event] = {type(event): event for event in _EXAMPLES}
"""One example instance per event class."""

LEGACY_EXAMPLES: dict[tuple[str, int], dict[str, Any]] = {
    ("video.job.submitted", 1): {
        "job_id": JOB_ID,
        "user_id": USER_ID,
        "original_filename": "holiday.mov",
        "file_path": f"sources/{JOB_ID}/holiday.mov",
        "options": OPTIONS,
        "source_metadata": {},
        "batch_id": None,
    },
}
"""Example payloads of superseded versions, keyed like ``upcasting.LEGACY_PAYLOADS``."""

EXAMPLE_AGGREGATE = MinuteAggregate(
    window_start=MOMENT,
    window_end=datetime(2025, 1, 1, 12, 1, 0, tzinfo=UTC),
    dimension="preset",
    dimension_value="h264-720p",
    jobs_submitted=12,
    jobs_completed=10,
    jobs_failed=1,
    processing_seconds=98.5,
    bytes_in=125_829_120,
    bytes_out=25_165_824,
)

EXAMPLE_ENVELOPE_ID = "0d9b6a3e-5c1f-4e2a-8b7d-3f6e9c2a1b40"
EXAMPLE_SOURCE = "/vidpipe/ingest"
EXAMPLE_CORRELATION_ID = "req-7c4b1e"
