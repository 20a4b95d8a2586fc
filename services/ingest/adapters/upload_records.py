"""Ingest's ``uploads`` table: the state of every resumable upload, and the lease on one.

PostgreSQL, not storage, holds the state: ownership checks, the per-user count, the quota's
reservations and the expiry sweep are queries; the offset and the storage state move together in
one UPDATE. A lease (holder and expiry, columns of the row) keeps two PATCHes (or a PATCH and the
sweep) apart: it is claimed, renewed and released in short transactions, so no connection is held
while a body streams, and it lapses on its own when the process holding it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, RowMapping, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.core.db.accounts import uploads
from services.core.db.readmodel import jobs
from services.core.storage import PartialState

log = logging.getLogger(__name__)


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


class Refusal(enum.Enum):
    """Why an upload was not created, or a lease not granted."""

    UNFINISHED_LIMIT = "unfinished_limit"  # the owner has as many unfinished uploads as allowed
    STORAGE_QUOTA = "storage_quota"  # used + reserved + this upload's length passes the budget
    HELD = "held"  # another request holds the lease
    USER_CAP = "user_cap"  # the owner already has as many leased (streaming) uploads as allowed
    GONE = "gone"  # the row no longer exists


class LeaseRefused(Exception):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lease: its holder id, and the row as read when it was claimed."""

    holder: str
    record: UploadRecord


def reserved_bytes(user_id: str, *, besides: str | None = None) -> ColumnElement[int]:
    """What the user's uploads reserve of the quota: the length of each unfinished one, and of
    each finished one whose job the read model does not show yet (its source is not counted)."""
    projected = select(jobs.c.id).where(jobs.c.id == uploads.c.job_id).exists()
    conditions = [
        uploads.c.user_id == user_id,
        or_(uploads.c.completed_at.is_(None), ~projected),
    ]
    if besides is not None:
        conditions.append(uploads.c.id != besides)
    query = select(func.coalesce(func.sum(uploads.c.length), 0)).where(and_(*conditions))
    return query.scalar_subquery()


class UploadRecords:
    """Queries on ``uploads``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self, record: UploadRecord, *, limit: int, budget: int | None
    ) -> Refusal | None:
        """Insert ``record`` unless its owner already has ``limit`` unfinished uploads, or what
        their uploads reserve plus its length passes ``budget`` (None: no quota)."""
        async with self._engine.begin() as conn:
            # one creation (or lease) per user at a time, so two cannot both pass the checks
            await _lock_user(conn, record.user_id)
            unfinished = await conn.scalar(
                select(func.count())
                .select_from(uploads)
                .where(uploads.c.user_id == record.user_id, uploads.c.completed_at.is_(None))
            )
            if (unfinished or 0) >= limit:
                return Refusal.UNFINISHED_LIMIT
            if budget is not None:
                reserved = int(await conn.scalar(select(reserved_bytes(record.user_id))) or 0)
                if reserved + record.length > budget:
                    return Refusal.STORAGE_QUOTA
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
        return None

    async def reserved(self, user_id: str, *, besides: str | None = None) -> int:
        async with self._engine.connect() as conn:
            return int(await conn.scalar(select(reserved_bytes(user_id, besides=besides))) or 0)

    async def get(self, upload_id: str) -> UploadRecord | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(uploads).where(uploads.c.id == upload_id)))
                .mappings()
                .first()
            )
        return None if row is None else _record(row)

    async def adopt(
        self, lease: Lease, record: UploadRecord, state: PartialState, expires_at: datetime
    ) -> bool:
        """Store ``state`` if ``lease`` is still held and the row still at ``record``'s offset."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(uploads)
                .where(
                    uploads.c.id == record.id,
                    uploads.c.upload_offset == record.offset,
                    uploads.c.lease_holder == lease.holder,
                )
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

    async def claim(
        self, upload_id: str, holder: str, ttl_s: float, *, user_cap: tuple[str, int] | None
    ) -> UploadRecord | Refusal:
        """Take the upload's lease for ``ttl_s`` (PostgreSQL's clock) unless someone holds it
        or, with ``user_cap`` (owner, most), the owner already holds that many; the fresh row."""
        lapsed = or_(uploads.c.lease_holder.is_(None), uploads.c.lease_expires_at <= func.now())
        async with self._engine.begin() as conn:
            if user_cap is not None:
                owner, most = user_cap
                await _lock_user(conn, owner)
                held = await conn.scalar(
                    select(func.count())
                    .select_from(uploads)
                    .where(
                        uploads.c.user_id == owner,
                        uploads.c.id != upload_id,
                        uploads.c.lease_expires_at > func.now(),
                        uploads.c.lease_holder.is_not(None),
                    )
                )
                if (held or 0) >= most:
                    return Refusal.USER_CAP
            row = (
                (
                    await conn.execute(
                        update(uploads)
                        .where(uploads.c.id == upload_id, lapsed)
                        .values(
                            lease_holder=holder,
                            lease_expires_at=func.now() + timedelta(seconds=ttl_s),
                        )
                        .returning(*uploads.c)
                    )
                )
                .mappings()
                .first()
            )
            if row is not None:
                return _record(row)
            exists = await conn.scalar(select(uploads.c.id).where(uploads.c.id == upload_id))
        return Refusal.HELD if exists is not None else Refusal.GONE

    async def renew(self, upload_id: str, holder: str, ttl_s: float) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(uploads)
                .where(uploads.c.id == upload_id, uploads.c.lease_holder == holder)
                .values(lease_expires_at=func.now() + timedelta(seconds=ttl_s))
            )
        return bool(result.rowcount)

    async def release(self, upload_id: str, holder: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(uploads)
                .where(uploads.c.id == upload_id, uploads.c.lease_holder == holder)
                .values(lease_holder=None, lease_expires_at=None)
            )

    @contextlib.asynccontextmanager
    async def leased(
        self, upload_id: str, ttl_s: float, *, user_cap: tuple[str, int] | None = None
    ) -> AsyncIterator[Lease]:
        """Hold the upload's lease for the block, renewed every third of ``ttl_s`` while it
        runs; raises LeaseRefused. Each step is its own short transaction."""
        holder = uuid.uuid4().hex
        got = await self.claim(upload_id, holder, ttl_s, user_cap=user_cap)
        if isinstance(got, Refusal):
            raise LeaseRefused(got)
        renewer = asyncio.create_task(self._renew_forever(upload_id, holder, ttl_s))
        try:
            yield Lease(holder, got)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await self.release(upload_id, holder)

    async def _renew_forever(self, upload_id: str, holder: str, ttl_s: float) -> None:
        while True:
            await asyncio.sleep(ttl_s / 3)
            try:
                if not await self.renew(upload_id, holder, ttl_s):
                    log.warning("upload %s: lease lost (held past its expiry)", upload_id)
                    return
            except Exception:  # the database is unreachable: the next round retries
                log.exception("upload %s: lease renewal failed", upload_id)


async def _lock_user(conn: AsyncConnection, user_id: str) -> None:
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(user_id))))
