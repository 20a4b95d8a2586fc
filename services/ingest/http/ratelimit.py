"""Token-bucket rate limits per client address and per user, kept in PostgreSQL so that every
ingest process (replicas, restarts) counts against the same buckets.

One statement per check: an ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on the
UNLOGGED ``rate_buckets`` table refills the bucket for the time since its last use, takes a
token if there is one, and says whether it did, atomically (the row lock orders concurrent
checks of one key). The limiter has its own small asyncpg pool, so a busy main pool never
delays it and it never takes a connection from the handlers. Should PostgreSQL not answer, the
request passes (logged): the limits protect the service, they must not take it down.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import asyncpg

from services.core.db.engine import plain_url
from services.core.http.errors import ApiError

ACQUIRE_TIMEOUT_S = 1.0
IDLE_S = 3600.0  # a bucket unused this long is full again whatever its limit: the sweep drops it
log = logging.getLogger(__name__)

# $1 key, $2 capacity (tokens), $3 refill per second, $4 now (epoch seconds)
TAKE = """
INSERT INTO rate_buckets AS b (key, tokens, updated, allowed)
VALUES ($1, $2::float8 - 1, $4::float8, true)
ON CONFLICT (key) DO UPDATE SET
    allowed = LEAST($2::float8, b.tokens + GREATEST($4::float8 - b.updated, 0) * $3::float8) >= 1,
    tokens = LEAST($2::float8, b.tokens + GREATEST($4::float8 - b.updated, 0) * $3::float8)
        - CASE WHEN LEAST($2::float8, b.tokens + GREATEST($4::float8 - b.updated, 0) * $3::float8)
            >= 1 THEN 1 ELSE 0 END,
    updated = GREATEST($4::float8, b.updated)
RETURNING allowed, tokens
"""
SWEEP = "DELETE FROM rate_buckets WHERE updated < $1"


class RateLimiter:
    """``per_address``, ``per_user`` and ``per_auth_address`` are requests per minute; bursts
    up to one period's worth. ``open`` it on the database (ingest's lifespan does); until then
    every check passes (only an app asked without its lifespan, e.g. for its OpenAPI document)."""

    def __init__(
        self,
        per_address: int,
        per_user: int,
        per_auth_address: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_address = per_address
        self.per_user = per_user
        self.per_auth_address = per_auth_address
        self.clock = clock  # wall time: every process shares the buckets
        self._pool: asyncpg.Pool | None = None

    async def open(self, database_url: str) -> None:
        self._pool = await asyncpg.create_pool(plain_url(database_url), min_size=1, max_size=4)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def check(
        self,
        key: str,
        limit: int,
        period_s: float = 60.0,
        *,
        code: str = "rate_limited",
        what: str = "requests",
    ) -> None:
        """Take one token from ``key``'s bucket (``limit`` per ``period_s``) or raise 429 with
        ``Retry-After``. A limit of 0 or less is off; a refused request takes no token."""
        if limit <= 0 or self._pool is None:  # not open: an app served without its lifespan
            return
        rate = limit / period_s
        try:
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                row = await conn.fetchrow(TAKE, key, float(limit), rate, self.clock())
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("rate limit not checked: PostgreSQL did not answer", exc_info=True)
            return
        assert row is not None
        if not row["allowed"]:
            wait = max(1, math.ceil((1.0 - row["tokens"]) / rate))
            raise ApiError(
                429, code, f"too many {what}; retry in {wait}s", {"Retry-After": str(wait)}
            )

    async def sweep(self) -> int:
        """Forget buckets idle for an hour (full again by then); how many went."""
        if self._pool is None:
            return 0
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            status = await conn.execute(SWEEP, self.clock() - IDLE_S)
        return int(status.rpartition(" ")[2] or 0)
