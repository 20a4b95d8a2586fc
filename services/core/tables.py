"""PostgreSQL tables (SQLAlchemy Core), shared by the migrations and the services.

Ownership (ARCHITECTURE): ingest writes ``users`` and ``refresh_tokens``; only the
projector writes ``jobs``, ``processing_history`` and ``projector_offsets``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
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

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("username", String(50), nullable=False, unique=True),
    Column("email", String(100), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(20), nullable=False, server_default="user"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True, server_default=text("gen_random_uuid()")),
    Column(
        "user_id", UUID(as_uuid=False), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column("family_id", UUID(as_uuid=False), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("replaced_by", UUID(as_uuid=False)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def jobs_table(name: str, meta: MetaData) -> Table:
    """The ``jobs`` read model; a function so a rebuild can fill a fresh copy beside it."""
    return Table(
        name,
        meta,
        Column("id", UUID(as_uuid=False), primary_key=True),
        # no FK to users: the log, not the users table, is the source of truth for jobs
        Column("user_id", UUID(as_uuid=False), nullable=False),
        Column("original_filename", String(255), nullable=False),
        Column("file_path", String(500), nullable=False),
        Column("output_path", String(500)),
        Column("status", String(20), nullable=False, server_default="pending"),
        Column("processing_options", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("progress", Integer, nullable=False, server_default="0"),
        Column("error_message", Text),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("worker_id", String(100)),
        Column("outputs", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
        Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("source_size", BigInteger, nullable=False, server_default="0"),
        Column("source_sha256", String(64), nullable=False, server_default=""),
        Column("batch_id", UUID(as_uuid=False)),
        Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
        Column("retry_not_before", DateTime(timezone=True)),
        Column("deleted_at", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("started_at", DateTime(timezone=True)),
        Column("completed_at", DateTime(timezone=True)),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("last_event_id", String(64)),
        Column("event_count", Integer, nullable=False, server_default="0"),
        # ids of the events already applied: a redelivered event is a no-op.
        # Last column on purpose: a rebuilt table must have the migrated column order.
        Column("applied_event_ids", ARRAY(Text), nullable=False, server_default=text("'{}'")),
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
        Column("event_id", String(64), nullable=False, unique=True),
        Column("worker_id", String(100)),
        Column("operation", String(50), nullable=False),
        Column("status", String(20), nullable=False),
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
    Column("consumer_group", String(100), primary_key=True),
    Column("topic", String(249), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
