"""Ingest's account tables (SQLAlchemy Core), on the :data:`metadata` of every vidpipe table.

Ownership (ARCHITECTURE): ingest writes ``users`` and ``refresh_tokens``. The read model's
tables (``jobs``, ``processing_history``, ``projector_offsets``) live in
``services.core.readmodel``; importing this module registers both, for the migrations.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, String, Table, func, text
from sqlalchemy.dialects.postgresql import UUID

from services.core.readmodel import metadata

__all__ = ["EMAIL_MAX", "USERNAME_MAX", "metadata", "refresh_tokens", "users"]

# Column limits that request validation (ingest's bodies) reads too.
USERNAME_MAX = 50
EMAIL_MAX = 100

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
