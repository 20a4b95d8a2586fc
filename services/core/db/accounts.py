"""Ingest's account tables (SQLAlchemy Core), on the :data:`metadata` of every vidpipe table.

Ownership (ARCHITECTURE): ingest writes ``users``, ``refresh_tokens`` and ``uploads`` (resumable
uploads in progress). The read model's
tables (``jobs``, ``processing_history``, ``projector_offsets``) live in
``services.core.db.readmodel``; importing this module registers both, for the migrations.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from services.core.db.readmodel import metadata
from services.core.domain.columns import FILENAME_MAX

__all__ = [
    "EMAIL_MAX",
    "USERNAME_MAX",
    "invites",
    "login_failures",
    "metadata",
    "rate_buckets",
    "refresh_tokens",
    "uploads",
    "users",
]

# Column limits that request validation (ingest's bodies) reads too.
USERNAME_MAX = 50
EMAIL_MAX = 100
LEASE_HOLDER_MAX = 64

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("username", String(USERNAME_MAX), nullable=False, unique=True),
    Column("email", String(EMAIL_MAX), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(20), nullable=False, server_default="user"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # an admin's switch: no login, no refresh, access tokens refused (services.core.access.disabled)
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    # bumped by a role change: access tokens carrying an older ``ver`` are refused
    Column("token_version", Integer, nullable=False, server_default=text("0")),
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
    # rotated | superseded (a grace re-issue replaced it) | logout | reuse | role | disabled
    Column("revoked_reason", String(20)),
)

# Rate-limit token buckets shared by every ingest process (times are epoch seconds, so a test
# may move the clock). UNLOGGED: cheap writes; a PostgreSQL crash only refills the buckets.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tokens", Double, nullable=False),
    Column("updated", Double, nullable=False),
    Column("allowed", Boolean, nullable=False),
    prefixes=["UNLOGGED"],
)

# Failed logins per (account, address); ``account`` "*" counts an address across names.
login_failures = Table(
    "login_failures",
    metadata,
    Column("account", String(200), nullable=False),
    Column("address", String(100), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_failed", Double, nullable=False),
    Column("locked_until", Double, nullable=False),
    PrimaryKeyConstraint("account", "address"),
)

# Single-use invitation codes (REGISTRATION=invite); only their hash is stored.
invites = Table(
    "invites",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("created_by", UUID(as_uuid=False), ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("used_by", UUID(as_uuid=False), ForeignKey("users.id", ondelete="SET NULL")),
)

# A tus upload: who owns it, how far it got, and what its storage backend needs to go on.
uploads = Table(
    "uploads",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column(
        "user_id", UUID(as_uuid=False), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column("job_id", UUID(as_uuid=False), nullable=False, unique=True),  # names the source key
    Column("length", BigInteger, nullable=False),
    Column("upload_offset", BigInteger, nullable=False, server_default="0"),
    Column("storage_state", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("filename", String(FILENAME_MAX), nullable=False),
    Column("options", Text),  # the client's JSON, validated at creation
    Column("batch_id", UUID(as_uuid=False)),
    Column("metadata_header", Text, nullable=False, server_default=""),  # echoed by HEAD
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),  # set once its job is submitted
    # who writes it now (a PATCH, DELETE or the sweep) and until when, unless renewed
    Column("lease_holder", String(LEASE_HOLDER_MAX)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Index("ix_uploads_user_unfinished", "user_id", postgresql_where=text("completed_at IS NULL")),
    Index("ix_uploads_expires_at", "expires_at"),
)
