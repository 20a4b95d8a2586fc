"""The orphan sweep: remove storage prefixes whose job is deleted or unknown to the read model.

``DELETE /jobs/{id}`` removes a job's files as it answers; when that fails (storage down, a
crash between the event and the removal), or when files outlive their job some other way, the
job's ``sources/{id}/`` and ``outputs/{id}/`` stay behind, counted by nobody. This sweep finds
them. A job just accepted may not be projected yet, and an upload may still be writing its
source, so a prefix is removed only when none of its objects changed for ``grace_s`` seconds,
and never while an unfinished tus upload names its job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db.accounts import uploads
from services.core.db.readmodel import jobs
from services.core.domain.ids import is_canonical_id
from services.core.storage import ObjectStore, keys

log = logging.getLogger(__name__)
_BATCH = 500  # job ids per read-model query


class OrphanSweep:
    """Finds and removes orphaned job prefixes; ingest runs ``sweep`` periodically."""

    def __init__(
        self,
        store: ObjectStore,
        engine: AsyncEngine,
        grace_s: float,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.engine = engine
        self.grace_s = grace_s
        self.now = now

    async def sweep(self) -> list[str]:
        """Remove the orphaned prefixes; returns the job ids (as stored) whose files went."""
        stored: dict[str, list[str]] = {}
        for root in (keys.SOURCES, keys.OUTPUTS):
            for key in await self.store.list(root):
                job = key[len(root) :].partition("/")[0]
                if job:
                    stored.setdefault(job, []).append(key)
        live = await self._live(stored)
        removed = []
        for job_id, job_keys in sorted(stored.items()):
            if job_id in live or not await self._settled(job_keys):
                continue
            for prefix in (f"{keys.SOURCES}{job_id}/", f"{keys.OUTPUTS}{job_id}/"):
                await self.store.delete_prefix(prefix)
            removed.append(job_id)
        if removed:
            log.info("removed the files of %d deleted or unknown jobs", len(removed))
        return removed

    async def _live(self, job_ids: Iterable[str]) -> set[str]:
        """The ids that still own their files: jobs not deleted, and unfinished uploads."""
        wanted = sorted(j for j in job_ids if is_canonical_id(j))  # others name no job
        live: set[str] = set()
        async with self.engine.connect() as conn:
            for start in range(0, len(wanted), _BATCH):
                batch = wanted[start : start + _BATCH]
                rows = await conn.execute(
                    select(jobs.c.id).where(jobs.c.id.in_(batch), jobs.c.deleted_at.is_(None))
                )
                live.update(str(i) for i in rows.scalars())
                rows = await conn.execute(
                    select(uploads.c.job_id).where(
                        uploads.c.job_id.in_(batch), uploads.c.completed_at.is_(None)
                    )
                )
                live.update(str(i) for i in rows.scalars())
        return live

    async def _settled(self, job_keys: list[str]) -> bool:
        """True when no object of the prefix changed within the grace period (an object
        whose age the store cannot say counts as fresh)."""
        oldest_allowed = self.now() - self.grace_s
        for key in job_keys:
            try:
                found = await self.store.stat(key)
            except ValueError:  # not an object's key (an S3 upload's part): leave it be
                return False
            if found is not None and (
                found.modified_at is None or found.modified_at > oldest_allowed
            ):
                return False
        return True
