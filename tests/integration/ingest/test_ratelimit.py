"""The token buckets in PostgreSQL: bursts of one period's worth, refill over time, 429 with
Retry-After, refused requests cost nothing. The limiter reads the clock it is given (wall time
in service); the tests move one by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from services.core.http.errors import ApiError
from services.ingest.http.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_limiter(db_url: str, clock: Clock) -> AsyncIterator[Callable[[], object]]:
    opened: list[RateLimiter] = []

    async def make() -> RateLimiter:
        limiter = RateLimiter(per_address=60, per_user=30, per_auth_address=6, clock=clock)
        await limiter.open(db_url)
        opened.append(limiter)
        return limiter

    yield make
    for limiter in opened:
        await limiter.close()


@pytest.fixture
async def limit(make_limiter: Callable[[], object]) -> RateLimiter:
    return await make_limiter()  # type: ignore[misc, no-any-return]


async def allowed(limit: RateLimiter, key: str, per_minute: int, attempts: int) -> int:
    """How many of ``attempts`` back-to-back requests pass."""
    passed = 0
    for _ in range(attempts):
        try:
            await limit.check(key, per_minute)
        except ApiError:
            continue
        passed += 1
    return passed


async def refusal(limit: RateLimiter, key: str, per_minute: int) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await limit.check(key, per_minute)
    return caught.value


async def test_a_burst_of_one_minutes_worth_then_429_with_retry_after(limit: RateLimiter) -> None:
    assert await allowed(limit, "addr:1", 15, 15) == 15
    error = await refusal(limit, "addr:1", 15)
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.headers == {"Retry-After": "4"}  # one token per 4 s at 15/min
    assert "retry in 4s" in error.message


async def test_tokens_come_back_at_the_rate_and_retry_after_rounds_up(
    limit: RateLimiter, clock: Clock
) -> None:
    assert await allowed(limit, "k", 15, 15) == 15  # 15/min: a quarter token per second
    clock.now += 1
    assert (await refusal(limit, "k", 15)).headers["Retry-After"] == "3"
    clock.now += 2.5  # 0.875 of a token: half a second left, and a refusal never says 0
    assert (await refusal(limit, "k", 15)).headers["Retry-After"] == "1"
    clock.now += 0.5
    assert await allowed(limit, "k", 15, 3) == 1
    clock.now += 12
    assert await allowed(limit, "k", 15, 5) == 3


async def test_idle_time_never_saves_more_than_one_periods_worth(
    limit: RateLimiter, clock: Clock
) -> None:
    assert await allowed(limit, "k", 6, 1) == 1
    clock.now += 3600
    assert await allowed(limit, "k", 6, 20) == 6


async def test_refused_requests_take_no_token(limit: RateLimiter, clock: Clock) -> None:
    assert await allowed(limit, "k", 60, 60) == 60
    assert await allowed(limit, "k", 60, 100) == 0
    clock.now += 1
    assert await allowed(limit, "k", 60, 5) == 1


async def test_keys_have_separate_buckets(limit: RateLimiter) -> None:
    assert await allowed(limit, "user:a", 2, 5) == 2
    assert await allowed(limit, "user:b", 2, 5) == 2
    assert await allowed(limit, "addr:a", 2, 5) == 2


@pytest.mark.parametrize("per_minute", [0, -1])
async def test_a_limit_of_zero_or_less_is_off(limit: RateLimiter, per_minute: int) -> None:
    assert await allowed(limit, "k", per_minute, 1000) == 1000


async def test_limiters_of_two_processes_and_a_restart_share_the_buckets(
    make_limiter: Callable[[], object],
) -> None:
    first: RateLimiter = await make_limiter()  # type: ignore[assignment]
    second: RateLimiter = await make_limiter()  # type: ignore[assignment]
    assert await allowed(first, "k", 4, 2) == 2
    assert await allowed(second, "k", 4, 5) == 2
    await first.close()
    restarted: RateLimiter = await make_limiter()  # type: ignore[assignment]
    assert await allowed(restarted, "k", 4, 1) == 0


async def test_a_longer_period(limit: RateLimiter, clock: Clock) -> None:
    for _ in range(3):
        await limit.check("register:a", 3, 3600.0, code="registration_limited")
    with pytest.raises(ApiError) as caught:
        await limit.check("register:a", 3, 3600.0, code="registration_limited")
    assert caught.value.code == "registration_limited"
    assert caught.value.headers == {"Retry-After": "1200"}
    clock.now += 1200
    await limit.check("register:a", 3, 3600.0)


async def test_idle_buckets_are_swept(limit: RateLimiter, clock: Clock) -> None:
    await limit.check("old", 1)
    clock.now += 1800
    await limit.check("recent", 1)
    clock.now += 1801
    assert await limit.sweep() == 1
    assert await allowed(limit, "recent", 1, 1) == 1  # it had refilled anyway


async def test_a_failing_database_lets_requests_pass(limit: RateLimiter, db_url: str) -> None:
    """The limits protect the service; they must not take it down with PostgreSQL (here its
    statement fails: the table is gone for a moment)."""
    import asyncpg

    from services.core.db.engine import plain_url

    await limit.check("k", 1)
    await refusal(limit, "k", 1)
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        await conn.execute("ALTER TABLE rate_buckets RENAME TO rate_buckets_away")
        await limit.check("k", 1)  # passes, logged
        await conn.execute("ALTER TABLE rate_buckets_away RENAME TO rate_buckets")
    finally:
        await conn.close()
    await refusal(limit, "k", 1)  # counted again as soon as PostgreSQL answers
