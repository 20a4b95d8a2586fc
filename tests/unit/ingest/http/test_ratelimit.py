"""The ingest token buckets: bursts of one minute's worth, refill over time, 429 with Retry-After.

The limiter reads ``time.monotonic``; the tests give it a clock they move by hand.
"""

from __future__ import annotations

import pytest

from services.core.http.errors import ApiError
from services.ingest.http import ratelimit
from services.ingest.http.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ratelimit.time, "monotonic", fake)
    return fake


def limiter() -> RateLimiter:
    return RateLimiter(per_address=60, per_user=30, per_auth_address=6)


def allowed(limit: RateLimiter, key: str, per_minute: int, attempts: int) -> int:
    """How many of ``attempts`` back-to-back requests pass."""
    passed = 0
    for _ in range(attempts):
        try:
            limit.check(key, per_minute)
        except ApiError:
            continue
        passed += 1
    return passed


def refusal(limit: RateLimiter, key: str, per_minute: int) -> ApiError:
    with pytest.raises(ApiError) as caught:
        limit.check(key, per_minute)
    return caught.value


def test_the_configured_limits_are_kept() -> None:
    limit = limiter()
    assert (limit.per_address, limit.per_user, limit.per_auth_address) == (60, 30, 6)


def test_a_burst_of_one_minutes_worth_then_429_with_retry_after(clock: Clock) -> None:
    limit = limiter()
    assert allowed(limit, "addr:1", 15, 15) == 15
    error = refusal(limit, "addr:1", 15)
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.headers == {"Retry-After": "4"}  # one token per 4 s at 15/min
    assert "retry in 4s" in error.message


def test_tokens_come_back_at_the_rate_and_retry_after_rounds_up(clock: Clock) -> None:
    limit = limiter()  # 15/min: a quarter token per second (exact in binary floating point)
    assert allowed(limit, "k", 15, 15) == 15
    clock.now += 1  # a quarter token: 3 s to wait for the rest
    assert refusal(limit, "k", 15).headers["Retry-After"] == "3"
    clock.now += 2.5  # 0.875 of a token: half a second left, and a refusal never says 0
    assert refusal(limit, "k", 15).headers["Retry-After"] == "1"
    clock.now += 0.5  # one whole token: exactly one request passes
    assert allowed(limit, "k", 15, 3) == 1
    clock.now += 12  # three tokens
    assert allowed(limit, "k", 15, 5) == 3


def test_idle_time_never_saves_more_than_one_minutes_worth(clock: Clock) -> None:
    limit = limiter()
    assert allowed(limit, "k", 6, 1) == 1
    clock.now += 3600
    assert allowed(limit, "k", 6, 20) == 6


def test_refused_requests_take_no_token(clock: Clock) -> None:
    limit = limiter()
    assert allowed(limit, "k", 60, 60) == 60
    assert allowed(limit, "k", 60, 100) == 0  # hammering while limited costs nothing extra
    clock.now += 1
    assert allowed(limit, "k", 60, 5) == 1


def test_keys_have_separate_buckets(clock: Clock) -> None:
    limit = limiter()
    assert allowed(limit, "user:a", 2, 5) == 2
    assert allowed(limit, "user:b", 2, 5) == 2
    assert allowed(limit, "addr:a", 2, 5) == 2


@pytest.mark.parametrize("per_minute", [0, -1])
def test_a_limit_of_zero_or_less_is_off(clock: Clock, per_minute: int) -> None:
    assert allowed(limiter(), "k", per_minute, 10_000) == 10_000


def test_idle_buckets_are_forgotten_when_the_table_is_full(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 10)
    limit = limiter()
    for n in range(5):
        limit.check(f"old{n}", 1)  # each spends its only token
    clock.now += 30
    for n in range(5):
        limit.check(f"recent{n}", 1)
    clock.now += 31  # the old buckets have been idle for over a minute, the recent ones not
    limit.check("new", 1)
    assert len(limit._buckets) == 6  # memory stays bounded
    assert allowed(limit, "recent0", 1, 1) == 0, "active buckets are kept, with their debt"


def test_a_full_table_of_active_buckets_drops_a_tenth(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 20)
    limit = limiter()
    for n in range(20):
        limit.check(f"k{n}", 1)
    limit.check("new", 1)
    assert len(limit._buckets) == 19  # 20 - 20 // 10 + the new one
    assert allowed(limit, "k19", 1, 1) == 0, "the newest buckets survive"
    assert allowed(limit, "k0", 1, 1) == 1, "the oldest was dropped: it starts full again"
