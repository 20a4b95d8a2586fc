"""The lockout's schedule: nothing below the threshold, then doubling waits, capped."""

from __future__ import annotations

from services.ingest.adapters.lockout import lock_seconds


def test_no_lock_below_the_threshold() -> None:
    assert [lock_seconds(n, 5, 60, 3600) for n in range(5)] == [0.0] * 5


def test_each_failure_after_the_threshold_doubles_the_wait_up_to_the_cap() -> None:
    waits = [lock_seconds(n, 5, 60, 3600) for n in range(5, 12)]
    assert waits == [60, 120, 240, 480, 960, 1920, 3600]
    assert lock_seconds(10_000, 5, 60, 3600) == 3600  # no overflow for huge counts
