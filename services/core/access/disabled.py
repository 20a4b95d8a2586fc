"""Which accounts an admin disabled or changed the role of, as every HTTP service checking
access tokens sees it.

Access tokens are stateless JWTs; looking the user up on every request would cost a query per
call. Instead each process keeps the (small) set of disabled user ids and reloads it every
``POLL_S`` seconds, so a disabled user's access tokens stop working within ``POLL_S`` (plus
a query), far inside the access-token lifetime; the process that disables an account applies
it at once (``mark``). Refresh and login look at the row itself
(services/ingest/adapters/accounts.py).

A role change bumps the account's ``token_version``; ``versions`` holds it for every account
changed so (few), and an access token carrying an older ``ver`` is refused the same way, so a
demoted admin's token stops working (everywhere within ``POLL_S``, at once where it happened).
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
        self.versions: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def __contains__(self, user_id: object) -> bool:
        return user_id in self.ids

    def mark(self, user_id: str, disabled: bool) -> None:
        """Apply a change this process just made, before the next reload."""
        self.ids = self.ids | {user_id} if disabled else self.ids - {user_id}

    def mark_version(self, user_id: str, version: int) -> None:
        """Apply a role change this process just made: older tokens are refused from now."""
        self.versions = {**self.versions, user_id: version}

    def refusal(self, user_id: str, version: int) -> str | None:
        """Why a token of ``user_id`` issued at ``version`` is refused, or None."""
        if user_id in self.ids:
            return "account_disabled"
        if version < self.versions.get(user_id, 0):
            return "token_revoked"
        return None

    async def reload(self) -> None:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(users.c.id, users.c.disabled, users.c.token_version).where(
                        users.c.disabled | (users.c.token_version > 0)
                    )
                )
            ).all()
        self.ids = frozenset(str(row.id) for row in rows if row.disabled)
        self.versions = {str(row.id): row.token_version for row in rows if row.token_version}

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
