"""Read-your-writes: wait, bounded, until the projector has applied an offset ingest produced.

The projector stores its next offset per partition in ``projector_offsets`` and calls
``pg_notify(APPLIED_CHANNEL, group)`` in the same transaction; we LISTEN, and re-check
the table on every notification (and every 250 ms, in case a notification was missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db.engine import plain_url
from services.core.db.readmodel import APPLIED_CHANNEL, projector_offsets

POLL_S = 0.25
log = logging.getLogger(__name__)


class AppliedWaiter:
    """Knows how far the projector got; wakes waiters when it moves."""

    def __init__(self, engine: AsyncEngine, database_url: str, group: str) -> None:
        self.engine = engine
        self.database_url = database_url
        self.group = group
        self._changed = asyncio.Condition()
        self._conn: Any = None

    async def start(self) -> None:
        try:
            self._conn = await asyncpg.connect(plain_url(self.database_url))
            await self._conn.add_listener(APPLIED_CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError) as exc:  # polling still works without LISTEN
            log.warning("cannot LISTEN for projector progress: %s", exc)

    async def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()

    def _notified(self, *_: object) -> None:
        asyncio.get_running_loop().create_task(self._wake())

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def next_offset(self, topic: str, partition: int) -> int:
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(
                    select(projector_offsets.c.next_offset).where(
                        projector_offsets.c.consumer_group == self.group,
                        projector_offsets.c.topic == topic,
                        projector_offsets.c.partition == partition,
                    )
                )
            ).scalar()
        return int(value) if value is not None else 0

    async def wait(self, topic: str, positions: list[tuple[int, int]], timeout_s: float) -> bool:
        """True once every (partition, offset) is applied; False when ``timeout_s`` runs out."""
        deadline = time.monotonic() + timeout_s
        pending = list(positions)
        while True:
            pending = [(p, o) for p, o in pending if await self.next_offset(topic, p) <= o]
            left = deadline - time.monotonic()
            if not pending:
                return True
            if left <= 0:
                return False
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(POLL_S, left))
