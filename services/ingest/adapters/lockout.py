"""Failed logins, counted per (account, client address) and per address, in PostgreSQL.

After ``max_failures`` failures of one account from one address, that pair is locked for
``base_s``, and each further failure after a lock doubles the wait (up to ``max_s``): a
guesser slows down exponentially, while the owner, from any other address, is not locked out
(an address is also locked after ``ADDRESS_FACTOR`` times as many failures across names: one
address may serve many honest people). Unknown usernames are counted exactly like accounts,
so the answer never says whether an account exists. A success clears the pair's count, not
the address's; a count is forgotten a day after its last failure. Every ingest process shares
the table, so replicas do not multiply the allowance and restarts do not reset it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sqlalchemy import delete, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db.accounts import login_failures
from services.core.http.errors import ApiError

ADDRESS_FACTOR = 4
ANY_ACCOUNT = "*"
FORGET_S = 86400.0
FAIL = text(
    """
    INSERT INTO login_failures AS f (account, address, failures, last_failed, locked_until)
    VALUES (:account, :address, 1, :now, 0)
    ON CONFLICT (account, address) DO UPDATE SET
        failures = CASE WHEN :now - f.last_failed > :forget THEN 1 ELSE f.failures + 1 END,
        last_failed = :now
    RETURNING failures
    """
)


def lock_seconds(failures: int, threshold: int, base_s: float, max_s: float) -> float:
    """How long the ``failures``-th failure locks: nothing below ``threshold``, then ``base_s``
    doubling with each further failure, at most ``max_s``."""
    if failures < threshold:
        return 0.0
    return float(min(max_s, base_s * 2 ** min(failures - threshold, 32)))


class LoginLockout:
    """Lock windows per (account, address) and per address, shared through PostgreSQL."""

    def __init__(
        self,
        engine: AsyncEngine,
        max_failures: int,
        base_s: float,
        max_s: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.max_failures = max_failures
        self.base_s = base_s
        self.max_s = max(max_s, base_s)
        self.clock = clock

    async def check(self, account: str, address: str) -> None:
        """Raise 429 with ``Retry-After`` while the pair or the address is locked."""
        now = self.clock()
        keys = [(account, address), (ANY_ACCOUNT, address)]
        async with self.engine.connect() as conn:
            until = (
                await conn.execute(
                    select(login_failures.c.locked_until).where(
                        tuple_(login_failures.c.account, login_failures.c.address).in_(keys)
                    )
                )
            ).scalars()
            wait = max([u - now for u in until], default=0.0)
        if wait > 0:
            seconds = math.ceil(wait)
            raise ApiError(
                429,
                "login_locked",
                f"too many failed logins; retry in {seconds}s",
                {"Retry-After": str(seconds)},
            )

    async def failed(self, account: str, address: str) -> None:
        now = self.clock()
        async with self.engine.begin() as conn:
            for key, threshold in (
                ((account, address), self.max_failures),
                ((ANY_ACCOUNT, address), self.max_failures * ADDRESS_FACTOR),
            ):
                failures = (
                    await conn.execute(
                        FAIL,
                        {"account": key[0], "address": key[1], "now": now, "forget": FORGET_S},
                    )
                ).scalar_one()
                wait = lock_seconds(failures, threshold, self.base_s, self.max_s)
                if wait > 0:
                    await conn.execute(
                        update(login_failures)
                        .where(login_failures.c.account == key[0])
                        .where(login_failures.c.address == key[1])
                        .values(locked_until=now + wait)
                    )

    async def succeeded(self, account: str, address: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(login_failures)
                .where(login_failures.c.account == account)
                .where(login_failures.c.address == address)
            )

    async def sweep(self) -> None:
        """Forget counts a day after their last failure once no lock is running."""
        now = self.clock()
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(login_failures)
                .where(login_failures.c.last_failed < now - FORGET_S)
                .where(login_failures.c.locked_until < now)
            )
