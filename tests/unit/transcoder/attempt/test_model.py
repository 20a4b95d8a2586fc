"""An attempt's retry policy (``services.transcoder.attempt.model``): pure."""

from __future__ import annotations

from services.transcoder.attempt.model import RetryPolicy


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=2, max_delay_s=5)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3)] == [2, 4, 5]
    assert policy.may_retry(2) and not policy.may_retry(3)
