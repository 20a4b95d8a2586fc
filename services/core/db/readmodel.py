"""The read model: its tables and ``NOTIFY`` channel (column limits and the row → job-state
mapping are pure, in ``services.core.domain.columns``).

One home for what the projector (the only writer), ingest and the notifier (readers) must
agree on. Only the projector writes ``jobs``, ``processing_history`` and
``projector_offsets`` (ARCHITECTURE); ingest's own account tables are in
``services.core.db.accounts``, on the same :data:`metadata`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from schemas.events import JobStatus
from services.core.domain.columns import (
    ERROR_CODE_MAX,
    EVENT_ID_MAX,
    FILENAME_MAX,
    GROUP_MAX,
    OPERATION_MAX,
    SHA256_MAX,
    STATUS_MAX,
    STORAGE_KEY_MAX,
    TOPIC_MAX,
    WORKER_ID_MAX,
)

APPLIED_CHANNEL = "projector_applied"
"""``NOTIFY`` channel the projector signals in each batch transaction; the payload is the
consumer group whose ``projector_offsets`` just moved (ingest waits on it for read-your-writes).
"""

metadata = MetaData()
"""Every vidpipe table is registered here; the migrations are checked against it."""


def jobs_table(name: str, meta: MetaData) -> Table:
    """The ``jobs`` read model; a function so a rebuild can fill a fresh copy beside it."""
    return Table(
        name,
        meta,
        Column("id", UUID(as_uuid=False), primary_key=True),
        # no FK to users: the log, not the users table, is the source of truth for jobs
        Column("user_id", UUID(as_uuid=False), nullable=False),
        Column("original_filename", String(FILENAME_MAX), nullable=False),
        Column("file_path", String(STORAGE_KEY_MAX), nullable=False),
        Column("output_path", String(STORAGE_KEY_MAX)),
        Column(
            "status", String(STATUS_MAX), nullable=False, server_default=JobStatus.PENDING.value
        ),
        Column("processing_options", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("progress", Integer, nullable=False, server_default="0"),
        Column("error_message", Text),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("worker_id", String(WORKER_ID_MAX)),
        Column("outputs", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
        Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("source_size", BigInteger, nullable=False, server_default="0"),
        Column("source_sha256", String(SHA256_MAX), nullable=False, server_default=""),
        Column("batch_id", UUID(as_uuid=False)),
        Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
        Column("retry_not_before", DateTime(timezone=True)),
        Column("deleted_at", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("started_at", DateTime(timezone=True)),
        Column("completed_at", DateTime(timezone=True)),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("last_event_id", String(EVENT_ID_MAX)),
        Column("event_count", Integer, nullable=False, server_default="0"),
        # ids of the events already applied: a redelivered event is a no-op.
        # Last column on purpose: a rebuilt table must have the migrated column order.
        Column("applied_event_ids", ARRAY(Text), nullable=False, server_default=text("'{}'")),
        # migration 0005: the latest progress tick of a running attempt, and why a job failed
        Column("stage", String(OPERATION_MAX)),
        Column("fps", Float),
        Column("eta_s", Float),
        Column("progress_at", DateTime(timezone=True)),
        Column("error_code", String(ERROR_CODE_MAX)),
        Index(f"ix_{name}_user_created", "user_id", "created_at", "id"),
        Index(f"ix_{name}_status_created", "status", "created_at"),
    )


def history_table(name: str, meta: MetaData, jobs_name: str = "jobs") -> Table:
    """``processing_history``: one row per ``stage_completed`` (and lifecycle) event."""
    return Table(
        name,
        meta,
        Column(
            "id", UUID(as_uuid=False), primary_key=True, server_default=text("gen_random_uuid()")
        ),
        Column(
            "job_id",
            UUID(as_uuid=False),
            ForeignKey(f"{jobs_name}.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("event_id", String(EVENT_ID_MAX), nullable=False, unique=True),
        Column("worker_id", String(WORKER_ID_MAX)),
        Column("operation", String(OPERATION_MAX), nullable=False),
        Column("status", String(STATUS_MAX), nullable=False),
        Column("duration_ms", Integer),
        Column("attempt", Integer, nullable=False, server_default="0"),
        Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index(f"ix_{name}_job_created", "job_id", "created_at"),
    )


jobs = jobs_table("jobs", metadata)
processing_history = history_table("processing_history", metadata)

projector_offsets = Table(
    "projector_offsets",
    metadata,
    Column("consumer_group", String(GROUP_MAX), primary_key=True),
    Column("topic", String(TOPIC_MAX), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
