"""Event types of the vidpipe log: past-tense facts about one video job.

Every event is a frozen pydantic model with a stable CloudEvents ``type`` and a
``schema_version``. The JSON data of a Kafka record is the model's fields; the
envelope attributes (id, time, source, correlation id) travel in headers, see
``schemas.envelope``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class JobStatus(StrEnum):
    """The status of a job in the read model; members are equal to their stored strings."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Event(BaseModel):
    """Base of every event: data common to all job events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "video.jobs"

    job_id: str = Field(description="The job this event is about (also the record key).")


class JobOutput(BaseModel):
    """One file a job produced, stored under ``outputs/{job_id}/{attempt}/{name}``.

    Each attempt writes under its own prefix, so a stale attempt never touches the files of
    the attempt that completed the job."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        description="Path under the attempt's prefix: 'video.mp4', 'hls/master.m3u8', "
        "'thumbnail.jpg', 'preview.mp4'..."
    )
    key: str = Field(description="Object storage key: 'outputs/{job_id}/{attempt}/{name}'.")
    content_type: str = Field(description="MIME type of the file.")
    size_bytes: int = Field(ge=0, description="Size of the stored file in bytes.")


class JobSubmitted(Event):
    """A user uploaded a source video and asked for it to be processed."""

    type: ClassVar[str] = "video.job.submitted"
    schema_version: ClassVar[int] = 2

    user_id: str = Field(description="Owner of the job.")
    original_filename: str = Field(description="Client-side file name; metadata only.")
    source_key: str = Field(
        description="Object storage key of the uploaded source: 'sources/{job_id}/source'."
    )
    source_size: int = Field(ge=0, description="Size of the source in bytes.")
    source_sha256: str = Field(description="Hex sha256 of the source bytes.")
    processing_options: dict[str, Any] = Field(
        default_factory=dict, description="Requested outputs: a preset or explicit fields."
    )
    source_metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="What probing the upload found: duration_s, width, height, codecs, fps, "
        "bitrate, and (since the container allow-list) demuxer and streams.",
    )
    batch_id: str | None = Field(default=None, description="Set when uploaded in a batch.")
    priority: int = Field(
        default=0,
        ge=0,
        description="Turn order computed at submit (lower goes first): the owner's uploads in "
        "the last days. Workers order what they fetched by it; 0 for events written before.",
    )


class JobStarted(Event):
    """A transcoder worker claimed the job and began an attempt."""

    type: ClassVar[str] = "video.job.started"

    worker_id: str = Field(description="Worker that runs this attempt.")
    attempt: int = Field(ge=1, description="1 for the first attempt, then 2, 3...")


class StageCompleted(Event):
    """A pipeline stage finished; becomes one ``processing_history`` row."""

    type: ClassVar[str] = "video.job.stage_completed"

    worker_id: str = Field(description="Worker that ran the stage.")
    attempt: int = Field(ge=1, description="Attempt the stage belongs to.")
    operation: str = Field(description="Stage name: intake, validate, metadata, transcode...")
    status: Literal["ok", "failed", "skipped"] = Field(description="Outcome of the stage.")
    duration_ms: int = Field(ge=0, description="Wall time the stage took.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Stage details.")


class JobProgress(Event):
    """A progress tick; lives on ``video.progress`` only, never on ``video.jobs``."""

    type: ClassVar[str] = "video.job.progress"
    topic: ClassVar[str] = "video.progress"

    attempt: int = Field(ge=1, description="Attempt the tick belongs to.")
    progress: int = Field(ge=0, le=100, description="Percent of the whole job.")
    stage: str = Field(description="Stage running now.")
    fps: float | None = Field(default=None, description="Frames encoded per second.")
    speed: float | None = Field(default=None, description="Encoding speed relative to realtime.")
    eta_s: float | None = Field(default=None, description="Estimated seconds to completion.")


class JobCompleted(Event):
    """Every requested output was produced and stored."""

    type: ClassVar[str] = "video.job.completed"

    worker_id: str = Field(description="Worker that completed the job.")
    attempt: int = Field(ge=1, description="Attempt that completed.")
    outputs: list[JobOutput] = Field(description="Files produced; the first is the main output.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Source metadata and analytics of the outputs."
    )
    duration_ms: int = Field(ge=0, description="Wall time of the attempt.")


class JobFailed(Event):
    """The job failed for good (or an attempt failed and no retry follows)."""

    type: ClassVar[str] = "video.job.failed"

    error_code: str = Field(description="Machine-readable cause, e.g. 'invalid_input'.")
    message: str = Field(description="Readable explanation for the user.")
    retryable: bool = Field(description="Whether a retry could succeed.")
    attempt: int = Field(ge=0, description="Attempt that failed (0: before any attempt).")
    worker_id: str | None = Field(default=None, description="Worker that saw the failure.")


class RetryScheduled(Event):
    """Another attempt will run once ``not_before`` has passed."""

    type: ClassVar[str] = "video.job.retry_scheduled"

    attempt: int = Field(ge=1, description="Number of the attempt that will run next.")
    not_before: datetime = Field(description="Earliest time the attempt may start (UTC).")
    reason: str = Field(description="Why: the previous error, or 'requested by user'.")
    requested_by: str | None = Field(default=None, description="User id for a manual retry.")
    processing_options: dict[str, Any] | None = Field(
        default=None,
        description="Options of the attempt, so a worker that never saw the submission can run it.",
    )


class CancelRequested(Event):
    """Someone asked for the job to stop."""

    type: ClassVar[str] = "video.job.cancel_requested"

    requested_by: str = Field(description="User id that asked.")


class JobCancelled(Event):
    """The job stopped on request; partial outputs were removed."""

    type: ClassVar[str] = "video.job.cancelled"

    worker_id: str | None = Field(default=None, description="Worker that stopped it, if any.")
    attempt: int = Field(ge=0, description="Attempt that was running (0: none yet).")


class JobDeleted(Event):
    """The job and its files were deleted; it leaves every listing."""

    type: ClassVar[str] = "video.job.deleted"

    requested_by: str = Field(description="User id that deleted it.")


class ReprocessRequested(Event):
    """Run a finished job again, with (possibly) new options, from its stored source."""

    type: ClassVar[str] = "video.job.reprocess_requested"

    processing_options: dict[str, Any] = Field(description="Options for the new run.")
    requested_by: str = Field(description="User id, or 'replay' for the replay command.")
    reason: str = Field(default="", description="Free text shown in the history.")
    attempt: int | None = Field(
        default=None,
        ge=1,
        description="Number of the new run's first attempt: one more than any attempt before "
        "it, so its outputs, media URLs and stale-event fencing are its own. Absent in events "
        "written before it existed (those runs restarted at attempt 1).",
    )


class ChunkRequested(Event):
    """One chunk of a split attempt to encode; lives on ``video.chunks`` only.

    Its outcome is a ``stage_completed`` on ``video.jobs`` with operation ``chunk`` and the
    chunk's ``index``, ``frames``, ``key`` (or ``error_code``) in its metadata."""

    type: ClassVar[str] = "video.job.chunk_requested"
    topic: ClassVar[str] = "video.chunks"

    attempt: int = Field(ge=1, description="Attempt of the job the chunk belongs to.")
    index: int = Field(ge=0, description="Position of the chunk in the job, from 0.")
    count: int = Field(ge=1, description="How many chunks the attempt has.")
    try_number: int = Field(default=1, ge=1, description="1, then 2, 3... when redone.")
    start_frame: int = Field(ge=0, description="Source frame (presentation order) it starts at.")
    frames: int = Field(ge=1, description="Frames to encode: the count is checked.")
    start_s: float = Field(ge=0, description="Time of the first frame from the input's start.")
    frame_s: float = Field(gt=0, description="Duration of one source frame (constant rate).")
    grid_offset_s: float | None = Field(
        default=None,
        description="HLS: seconds from the last keyframe grid point to the first frame, so "
        "the chunk keeps the single pass's keyframe grid; None for other formats.",
    )
    processing_options: dict[str, Any] = Field(description="The job's options.")
    priority: int = Field(default=0, ge=0, description="The job's turn order (lower first).")
    prefix: str = Field(description="Storage prefix the chunk is written under (attempt's).")


EVENT_TYPES: tuple[type[Event], ...] = (
    JobSubmitted,
    JobStarted,
    StageCompleted,
    JobProgress,
    JobCompleted,
    JobFailed,
    RetryScheduled,
    CancelRequested,
    JobCancelled,
    JobDeleted,
    ReprocessRequested,
    ChunkRequested,
)

EVENTS_BY_TYPE: dict[str, type[Event]] = {cls.type: cls for cls in EVENT_TYPES}
