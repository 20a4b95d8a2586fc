"""The restart policy of ``vidpipe up``: backoff, the bound, the window."""

from __future__ import annotations

from services.cli.restarts import CrashHistory, RestartPolicy


def test_delay_doubles_up_to_the_cap() -> None:
    policy = RestartPolicy(base_delay_s=0.5, max_delay_s=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_gives_up_after_max_restarts_within_the_window() -> None:
    history = CrashHistory(RestartPolicy(max_restarts=3, window_s=60.0, base_delay_s=1.0))
    assert [history.record(t) for t in (0.0, 1.0, 2.0)] == [1.0, 2.0, 4.0]
    assert history.record(3.0) is None
    assert history.restarts == 3


def test_old_crashes_leave_the_window() -> None:
    history = CrashHistory(RestartPolicy(max_restarts=2, window_s=10.0, base_delay_s=1.0))
    assert history.record(0.0) == 1.0
    assert history.record(5.0) == 2.0
    assert history.record(20.0) == 1.0, "the crashes at 0 and 5 are forgotten: backoff resets"
    assert history.record(21.0) == 2.0
    assert history.record(22.0) is None
    assert history.restarts == 4
