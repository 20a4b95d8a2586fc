"""An attempt's retry policy (``services.transcoder.attempt.model``): pure."""

from __future__ import annotations

from services.transcoder.attempt.model import RetryPolicy


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=2, max_delay_s=5)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3)] == [2, 4, 5]
    assert policy.may_retry(2) and not policy.may_retry(3)


def test_the_retry_budget_counts_from_the_runs_first_attempt() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_s=2, max_delay_s=60)
    # a reprocess opened the run at attempt 5: 5 and 6 may retry, 7 is its third
    assert policy.may_retry(5, 5) and policy.may_retry(6, 5) and not policy.may_retry(7, 5)
    assert policy.delay(5, 5).total_seconds() == 2 and policy.delay(6, 5).total_seconds() == 4
