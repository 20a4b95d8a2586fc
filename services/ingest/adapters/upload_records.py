"""Ingest's ``uploads`` table: the state of every resumable upload, and the lock on one.

PostgreSQL, not storage, holds the state: ownership checks, the per-user count and the expiry
sweep are queries; the offset and the storage state move together in one UPDATE; and an
advisory lock held by a live connection keeps two PATCHes (or a PATCH and the sweep) apart,
and is released by PostgreSQL when the process holding it dies.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db.accounts import uploads
from services.core.storage import PartialState


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """One row of ``uploads``."""

    id: str
    user_id: str
    job_id: str
    length: int
    state: PartialState
    filename: str
    options: str | None
    batch_id: str | None
    metadata_header: str
    expires_at: datetime
    completed_at: datetime | None

    @property
    def offset(self) -> int:
        return self.state.offset


def _record(row: RowMapping) -> UploadRecord:
    return UploadRecord(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        job_id=str(row["job_id"]),
        length=row["length"],
        state=PartialState(row["upload_offset"], dict(row["storage_state"])),
        filename=row["filename"],
        options=row["options"],
        batch_id=None if row["batch_id"] is None else str(row["batch_id"]),
        metadata_header=row["metadata_header"],
        expires_at=row["expires_at"],
        completed_at=row["completed_at"],
    )


class UploadRecords:
    """Queries on ``uploads``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, record: UploadRecord, *, limit: int) -> bool:
        """Insert ``record`` unless its owner already has ``limit`` unfinished uploads."""
        async with self._engine.begin() as conn:
            # one creation per user at a time, so two cannot both pass the count
            await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(record.user_id))))
            unfinished = await conn.scalar(
                select(func.count())
                .select_from(uploads)
                .where(uploads.c.user_id == record.user_id, uploads.c.completed_at.is_(None))
            )
            if (unfinished or 0) >= limit:
                return False
            await conn.execute(
                insert(uploads).values(
                    id=record.id,
                    user_id=record.user_id,
                    job_id=record.job_id,
                    length=record.length,
                    upload_offset=record.offset,
                    storage_state=record.state.backend,
                    filename=record.filename,
                    options=record.options,
                    batch_id=record.batch_id,
                    metadata_header=record.metadata_header,
                    expires_at=record.expires_at,
                )
            )
        return True

    async def get(self, upload_id: str) -> UploadRecord | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(uploads).where(uploads.c.id == upload_id)))
                .mappings()
                .first()
            )
        return None if row is None else _record(row)

    async def adopt(self, record: UploadRecord, state: PartialState, expires_at: datetime) -> bool:
        """Store ``state`` if the row is still at ``record``'s offset."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(uploads)
                .where(uploads.c.id == record.id, uploads.c.upload_offset == record.offset)
                .values(
                    upload_offset=state.offset, storage_state=state.backend, expires_at=expires_at
                )
            )
        return bool(result.rowcount)

    async def mark_completed(self, upload_id: str, expires_at: datetime) -> None:
        """The job is submitted; the row stays (for HEAD) until ``expires_at``."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(uploads)
                .where(uploads.c.id == upload_id)
                .values(completed_at=func.now(), expires_at=expires_at)
            )

    async def delete(self, upload_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(uploads).where(uploads.c.id == upload_id))

    async def expired(self, now: datetime, limit: int = 100) -> list[UploadRecord]:
        """Rows past their expiry, oldest first."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(uploads)
                    .where(uploads.c.expires_at <= now)
                    .order_by(uploads.c.expires_at)
                    .limit(limit)
                )
            ).mappings()
            return [_record(row) for row in rows]

    @contextlib.asynccontextmanager
    async def locked(self, upload_id: str) -> AsyncIterator[bool]:
        """Hold the upload's lock for the block, if no one else holds it (yields whether so)."""
        key = func.hashtextextended(upload_id, 0)
        async with self._engine.connect() as conn:
            got = bool(await conn.scalar(select(func.pg_try_advisory_lock(key))))
            await conn.commit()  # no transaction stays open while the body streams
            try:
                yield got
            finally:
                if got:
                    await conn.scalar(select(func.pg_advisory_unlock(key)))
                    await conn.commit()
