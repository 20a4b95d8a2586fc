"""Which accounts an admin disabled, as every HTTP service checking access tokens sees it.

Access tokens are stateless JWTs; looking the user up on every request would cost a query per
call. Instead each process keeps the (small) set of disabled user ids and reloads it every
``POLL_S`` seconds, so a disabled user's access tokens stop working within ``POLL_S`` (plus
a query), far inside the access-token lifetime; the process that disables an account applies
it at once (``mark``). Refresh and login look at the row itself
(services/ingest/adapters/accounts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db.accounts import users

POLL_S = 2.0
log = logging.getLogger(__name__)


class DisabledAccounts:
    """The ids of disabled users, reloaded from PostgreSQL in the background."""

    def __init__(self, engine: AsyncEngine, poll_s: float = POLL_S) -> None:
        self.engine = engine
        self.poll_s = poll_s
        self.ids: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None

    def __contains__(self, user_id: object) -> bool:
        return user_id in self.ids

    def mark(self, user_id: str, disabled: bool) -> None:
        """Apply a change this process just made, before the next reload."""
        self.ids = self.ids | {user_id} if disabled else self.ids - {user_id}

    async def reload(self) -> None:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(users.c.id).where(users.c.disabled))
            self.ids = frozenset(str(row.id) for row in rows)

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.reload()
            except Exception:  # PostgreSQL away: keep the last known set, try again
                log.warning("could not reload the disabled accounts", exc_info=True)
