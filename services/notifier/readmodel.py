"""The notifier's reads of the ``jobs`` read model (it never writes to PostgreSQL).

Who owns a job decides who may follow it; the current row is what a new client sees first.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.readmodel import jobs

_SNAPSHOT_COLUMNS = (
    jobs.c.id,
    jobs.c.user_id,
    jobs.c.status,
    jobs.c.progress,
    jobs.c.outputs,
    jobs.c.error_message,
    jobs.c.updated_at,
)


def is_job_id(text: str) -> bool:
    """Job ids are UUIDs; anything else cannot name a job (and must not reach SQL)."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class ReadModel:
    """Queries on ``jobs``, plus a bounded cache of job owners for the fan-out."""

    def __init__(self, engine: AsyncEngine, owner_cache_size: int = 100_000) -> None:
        self.engine = engine
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._cache_size = owner_cache_size

    def learn_owner(self, job_id: str, user_id: str) -> None:
        """Remember an owner seen in the log (``submitted`` comes before the projector's row)."""
        self._owners[job_id] = user_id
        self._owners.move_to_end(job_id)
        while len(self._owners) > self._cache_size:
            self._owners.popitem(last=False)

    def cached_owner(self, job_id: str) -> str | None:
        return self._owners.get(job_id)

    async def job_owner(self, job_id: str) -> str | None:
        """The owner of a live (not deleted) job, or ``None`` when there is no such job."""
        if not is_job_id(job_id):
            return None
        query = select(jobs.c.user_id, jobs.c.deleted_at).where(jobs.c.id == job_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return self.cached_owner(job_id)  # submitted, not projected yet
        return None if row.deleted_at is not None else str(row.user_id)

    async def owners(self, job_ids: Iterable[str]) -> dict[str, str]:
        """Owners of ``job_ids``, from the cache first, then one query for the rest."""
        found: dict[str, str] = {}
        missing = []
        for job_id in set(job_ids):
            owner = self._owners.get(job_id)
            if owner is not None:
                found[job_id] = owner
            elif is_job_id(job_id):
                missing.append(job_id)
        if missing:
            query = select(jobs.c.id, jobs.c.user_id).where(jobs.c.id.in_(missing))
            async with self.engine.connect() as conn:
                for row in await conn.execute(query):
                    found[str(row.id)] = str(row.user_id)
                    self.learn_owner(str(row.id), str(row.user_id))
        return found

    async def current_states(
        self, *, job_id: str | None, user_id: str | None, limit: int
    ) -> Sequence[Mapping[str, Any]]:
        """Rows of the followed jobs, oldest update first, at most ``limit`` (newest kept)."""
        query = select(*_SNAPSHOT_COLUMNS).where(jobs.c.deleted_at.is_(None))
        if job_id is not None:
            query = query.where(jobs.c.id == job_id)
        elif user_id is not None:
            query = query.where(jobs.c.user_id == user_id)
        query = query.order_by(jobs.c.updated_at.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = [dict(row._mapping) for row in await conn.execute(query)]
        return rows[::-1]
