"""The notifier's reads of the ``jobs`` read model (it never writes to PostgreSQL).

Who owns a job decides who may follow it; the current row is what a new client sees first.
Both are asked by every connecting client, so both are batched: during a reconnect storm one
query answers hundreds of clients (``batch.Batcher``). Owners are cached: a job's owner never
changes, and the hub forgets a job when the log says it was deleted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db.readmodel import jobs
from services.core.domain.ids import is_canonical_id
from services.notifier.batch import Batcher

_SNAPSHOT_COLUMNS = (
    jobs.c.id,
    jobs.c.user_id,
    jobs.c.status,
    jobs.c.progress,
    jobs.c.outputs,
    jobs.c.error_message,
    jobs.c.updated_at,
)
Row = Mapping[str, Any]
_MISSING = "missing"  # a job with no row (yet): fall back to an owner seen in the log
_DELETED = "deleted"


def is_job_id(text: str) -> bool:
    """Job (and user) ids are canonical UUIDs; anything else names none (and must not reach
    SQL, nor match events by another spelling)."""
    return is_canonical_id(text)


class ReadModel:
    """Queries on ``jobs``, batched, plus a bounded cache of live jobs' owners."""

    def __init__(
        self, engine: AsyncEngine, owner_cache_size: int = 100_000, snapshot_limit: int = 200
    ) -> None:
        self.engine = engine
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._deleted: OrderedDict[str, None] = OrderedDict()  # deletions seen in the log
        self._cache_size = owner_cache_size
        self.snapshot_limit = snapshot_limit
        self.access = Batcher[str, str](self._fetch_access, _MISSING)
        self.job_rows = Batcher[str, Row | None](self._fetch_job_rows, None)
        self.user_rows = Batcher[str, list[Row]](self._fetch_user_rows, [])

    def learn_owner(self, job_id: str, user_id: str) -> None:
        """Remember an owner seen in the log (``submitted`` comes before the projector's row)."""
        if job_id in self._deleted:
            return  # the projector may not have marked the row yet: the log knows better
        self._owners[job_id] = user_id
        self._owners.move_to_end(job_id)
        while len(self._owners) > self._cache_size:
            self._owners.popitem(last=False)

    def forget(self, job_id: str) -> None:
        """The job was deleted (the log says so): no stream may open for it any more."""
        self._owners.pop(job_id, None)
        self._deleted[job_id] = None
        while len(self._deleted) > self._cache_size:
            self._deleted.popitem(last=False)

    def cached_owner(self, job_id: str) -> str | None:
        return self._owners.get(job_id)

    async def job_owner(self, job_id: str) -> str | None:
        """The owner of a live (not deleted) job, or ``None`` when there is no such job."""
        if not is_job_id(job_id) or job_id in self._deleted:
            return None
        owner = self._owners.get(job_id)
        if owner is not None:
            return owner  # no query: owners never change, deletions evict (``forget``)
        found = await self.access.get(job_id)
        if found == _MISSING:
            return self.cached_owner(job_id)  # submitted, not projected yet
        return None if found == _DELETED else found

    async def _fetch_access(self, job_ids: list[str]) -> dict[str, str]:
        query = select(jobs.c.id, jobs.c.user_id, jobs.c.deleted_at).where(jobs.c.id.in_(job_ids))
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(query))
        found = {}
        for row in rows:
            if row.deleted_at is not None:
                found[str(row.id)] = _DELETED
            else:
                found[str(row.id)] = str(row.user_id)
                self.learn_owner(str(row.id), str(row.user_id))
        return found

    async def owners(self, job_ids: Iterable[str]) -> dict[str, str]:
        """Owners of ``job_ids`` (deleted jobs too), from the cache first, then one query."""
        found: dict[str, str] = {}
        missing = []
        for job_id in set(job_ids):
            owner = self._owners.get(job_id)
            if owner is not None:
                found[job_id] = owner
            elif is_job_id(job_id):
                missing.append(job_id)
        if missing:
            query = select(jobs.c.id, jobs.c.user_id, jobs.c.deleted_at)
            async with self.engine.connect() as conn:
                for row in await conn.execute(query.where(jobs.c.id.in_(missing))):
                    found[str(row.id)] = str(row.user_id)
                    if row.deleted_at is None:  # only live jobs' owners grant access
                        self.learn_owner(str(row.id), str(row.user_id))
        return found

    async def current_states(
        self, *, job_id: str | None, user_id: str | None, limit: int
    ) -> Sequence[Row]:
        """Rows of the followed jobs, oldest update first, at most ``limit`` (newest kept)."""
        if job_id is not None:
            row = await self.job_rows.get(job_id) if is_job_id(job_id) else None
            return [] if row is None else [row]
        if user_id is not None and not is_job_id(user_id):
            return []  # user ids are UUIDs too; nothing else may reach a batch's SQL
        if user_id is not None and limit == self.snapshot_limit:
            return await self.user_rows.get(user_id)
        query = select(*_SNAPSHOT_COLUMNS).where(jobs.c.deleted_at.is_(None))
        if user_id is not None:
            query = query.where(jobs.c.user_id == user_id)
        query = query.order_by(jobs.c.updated_at.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = [dict(row._mapping) for row in await conn.execute(query)]
        return rows[::-1]

    async def _fetch_job_rows(self, job_ids: list[str]) -> dict[str, Row | None]:
        query = select(*_SNAPSHOT_COLUMNS).where(
            jobs.c.id.in_(job_ids), jobs.c.deleted_at.is_(None)
        )
        async with self.engine.connect() as conn:
            return {str(row.id): dict(row._mapping) for row in await conn.execute(query)}

    async def _fetch_user_rows(self, user_ids: list[str]) -> dict[str, list[Row]]:
        """Each user's ``snapshot_limit`` most recently updated jobs, one query for all."""
        rank = (
            func.row_number()
            .over(partition_by=jobs.c.user_id, order_by=jobs.c.updated_at.desc())
            .label("rank")
        )
        ranked = (
            select(*_SNAPSHOT_COLUMNS, rank)
            .where(jobs.c.user_id.in_(user_ids), jobs.c.deleted_at.is_(None))
            .subquery()
        )
        query = (
            select(*[ranked.c[c.name] for c in _SNAPSHOT_COLUMNS])
            .where(ranked.c.rank <= self.snapshot_limit)
            .order_by(ranked.c.user_id, ranked.c.updated_at)
        )
        found: dict[str, list[Row]] = {}
        async with self.engine.connect() as conn:
            for row in await conn.execute(query):
                found.setdefault(str(row.user_id), []).append(dict(row._mapping))
        return found
