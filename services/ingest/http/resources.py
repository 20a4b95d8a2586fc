"""The JSON the API answers with, as pydantic models: the OpenAPI schemas are made from them.

Field order is the order of the JSON objects. Numbers that may be integers or fractions keep
whichever they are (``Number``), so a ``5`` is never re-sent as ``5.0``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from schemas.events import JobStatus

Number = Annotated[int | float, WithJsonSchema({"type": "number"})]
Uuid = Annotated[str, Field(json_schema_extra={"format": "uuid"})]
Timestamp = Annotated[str, Field(description="ISO 8601, UTC (`Z`)")]


class User(BaseModel):
    """An account as its owner sees it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: Uuid
    username: str
    email: str
    role: Literal["user", "admin"]
    disabled: bool = Field(description="an admin disabled the account: no login, no refresh")


class BrowserSession(BaseModel):
    """A browser's login or refresh: the access token (keep it in memory) and who it is for;
    the refresh token is the HttpOnly ``vidpipe_refresh`` cookie (Path=/auth), never JSON."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme name, not a secret)
    expires_in: int = Field(description="seconds until the access token expires")
    user: User


class Tokens(BaseModel):
    """A login or refresh: a short-lived access token and the refresh token that renews it."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme name, not a secret)
    expires_in: int = Field(description="seconds until the access token expires")


class Output(BaseModel):
    """One file a job produced: ``url`` plays or shows it, ``download_url`` downloads it."""

    name: str
    content_type: str | None
    size_bytes: int | None
    url: str = Field(
        description="signed, expiring URL (no token needed; relative to this origin) under "
        "which the job attempt's whole output tree resolves, so an HLS playlist's relative "
        "URIs work; `MEDIA_URL_TTL` seconds (1 h) from the request, rounded up to a minute"
    )
    download_url: str = Field(description="the file as an attachment (needs the Bearer token)")


class JobMetadata(BaseModel):
    """What probing the source found; further keys may follow the listed ones."""

    model_config = ConfigDict(extra="allow")

    duration_s: Number | None
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    fps: Number | None
    bitrate: int | None


class Job(BaseModel):
    """One uploaded video and what became of it."""

    id: Uuid
    user_id: Uuid
    username: str | None = Field(
        description="the owner's username in an admin's all-users list (`all=true`); else null"
    )
    status: JobStatus
    progress: int = Field(ge=0, le=100)
    stage: str | None = Field(
        description="the stage running now (from the latest progress tick); null unless processing"
    )
    eta_seconds: int | None = Field(
        description="estimated seconds until a processing job is done; null when unknown"
    )
    queue_position: int | None = Field(
        description="1-based place among the jobs not yet started (pending), oldest first, "
        "across all users; null for any other status"
    )
    original_filename: str
    processing_options: dict[str, Any]
    error_message: str | None
    error_code: str | None = Field(
        description="machine-readable cause of the failure (e.g. `invalid_input`); null unless "
        "failed"
    )
    created_at: Timestamp | None
    started_at: Timestamp | None
    completed_at: Timestamp | None
    updated_at: Timestamp | None
    attempts: int
    cancel_requested: bool
    batch_id: Uuid | None
    source_size: int
    source_sha256: str
    metadata: JobMetadata
    playback_url: str | None = Field(
        description="signed URL of the main output (the video, or the HLS master playlist) "
        "for a player; null until the job has outputs"
    )
    outputs: list[Output]


class Usage(BaseModel):
    """What a user's jobs take up, against the quotas (admins are not held to them)."""

    storage_bytes: int = Field(
        ge=0, description="bytes of the sources and outputs of non-deleted jobs"
    )
    reserved_bytes: int = Field(
        default=0, ge=0, description="Upload-Length of unfinished tus uploads (held until done)"
    )
    storage_quota_bytes: int = Field(description="USER_STORAGE_QUOTA")
    jobs_in_flight: int = Field(ge=0, description="jobs pending or processing")
    jobs_in_flight_quota: int = Field(description="USER_JOBS_IN_FLIGHT")


class JobList(BaseModel):
    """One page of jobs, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[Job]
    next_cursor: str | None
    usage: Usage | None = Field(
        description="the listed user's usage and quotas (null for an admin's all-users list)"
    )


class UploadedJobs(BaseModel):
    """The answer to an upload of several files: one job each, in the order sent."""

    jobs: list[Job]


class HistoryEntry(BaseModel):
    """One processing step of a job (a stage finished, a lifecycle change)."""

    id: Uuid
    job_id: Uuid
    worker_id: str | None
    operation: str
    status: str
    duration_ms: int | None
    attempt: int
    metadata: dict[str, Any]
    created_at: Timestamp | None


class History(BaseModel):
    """A job's processing history, oldest first."""

    items: list[HistoryEntry]


class Accepted(BaseModel):
    """A command was published: ``accepted`` lists the event types, in order."""

    id: Uuid
    accepted: list[str]


class Health(BaseModel):
    """Liveness: the process answers."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Readiness: each dependency is ``ok`` or says why it is unavailable."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


class BulkResult(BaseModel):
    """What became of one job of a bulk command."""

    job_id: str
    ok: bool
    error: str | None = Field(description="why not, readable; null when ok")
    code: str | None = Field(description="the error code (`not_found`, `illegal_state`, ...)")


class BulkResults(BaseModel):
    """One result per job id sent, in the order sent (failed jobs for ``retry-failed``)."""

    results: list[BulkResult]


class AdminUser(BaseModel):
    """An account as an admin sees it, with how many (non-deleted) jobs it has."""

    id: Uuid
    username: str
    email: str
    role: Literal["user", "admin"]
    disabled: bool
    created_at: Timestamp
    jobs: int = Field(ge=0)


class Invite(BaseModel):
    """A single-use invitation code for ``/auth/register`` (REGISTRATION=invite)."""

    code: str = Field(description="give it to the person to invite; it is not shown again")
    expires_at: Timestamp


class AdminUsers(BaseModel):
    """Every account, oldest first."""

    items: list[AdminUser]


class Throughput(BaseModel):
    """Jobs that reached an end in one minute (UTC, the minute's start)."""

    minute: Timestamp
    completed: int
    failed: int


class ConsumerLag(BaseModel):
    """Records of ``topic`` the consumer ``group`` has not committed yet (all partitions)."""

    group: str
    topic: str
    lag: int


class Worker(BaseModel):
    """A transcoder worker at work now, from its job's latest progress tick."""

    worker_id: str
    job_id: Uuid
    stage: str | None
    fps: Number | None
    since: Timestamp | None = Field(description="when its attempt started")


class Overview(BaseModel):
    """The pipeline at a glance, for the admin overview."""

    jobs_by_status: dict[str, int]
    queue_depth: int = Field(description="jobs pending (waiting for a worker)")
    throughput: list[Throughput] = Field(description="the last 60 minutes, oldest first")
    consumer_lag: list[ConsumerLag] = Field(
        description="per group and topic; empty when the broker cannot be asked"
    )
    workers: list[Worker]
    dead_letters: int | None = Field(
        description="records in the dead-letter topic (records that could not be decoded); "
        "null when the broker did not answer"
    )
