"""Waiting for a condition with a deadline: the suites' one polling helper, so no test
synchronises by sleeping.

``await eventually(check)`` calls ``check`` (a function, sync or async) until it returns
something truthy and returns that; after ``timeout`` seconds it fails the test, naming
``message``. Polls come at once, then after 1 ms, 2 ms, 4 ms … up to ``interval`` apart: a
condition that holds almost at once is seen almost at once, and a slow one is not hammered.
``eventually_sync`` is the same for a plain (non-async) test.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

FIRST_PAUSE_S = 0.001


async def eventually(
    condition: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 10.0,
    interval: float = 0.1,
    message: str | Callable[[], str] = "the condition",
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """``condition()``'s first truthy result; AssertionError after ``timeout`` seconds.

    ``ignoring``: exceptions that mean "not yet" (a server still starting); the last one is
    chained to the failure. ``message`` may be a function, called only on failure (to show
    what the test saw by then)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    for pause in _pauses(interval):
        try:
            value = condition()
            result = await value if inspect.isawaitable(value) else value
        except ignoring as exc:
            last = exc
        else:
            if result:
                return result  # type: ignore[no-any-return]
        if time.monotonic() >= deadline:
            raise AssertionError(_failure(timeout, message)) from last
        await asyncio.sleep(pause)
    raise AssertionError("unreachable")  # _pauses never ends


def eventually_sync(
    condition: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.1,
    message: str | Callable[[], str] = "the condition",
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """``eventually`` for code that is not async: the same contract, blocking."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    for pause in _pauses(interval):
        try:
            if result := condition():
                return result
        except ignoring as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(_failure(timeout, message)) from last
        time.sleep(pause)
    raise AssertionError("unreachable")


def _pauses(interval: float) -> Iterator[float]:
    pause = min(FIRST_PAUSE_S, interval)
    while True:
        yield pause
        pause = min(pause * 2, interval)


def _failure(timeout: float, message: str | Callable[[], str]) -> str:
    what = message() if callable(message) else message
    return f"timed out after {timeout:g} s waiting for {what}"
