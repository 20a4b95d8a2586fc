"""Bounded admission of new streams, and the jittered delays that spread reconnections.

A reconnect storm must not slow the delivery of live events to clients already connected:
at most ``max_opening`` streams are set up at once (token, ownership, snapshot or replay),
at most ``max_waiting`` more wait for a slot, each for at most ``wait_s``; the rest are
refused (503 + ``Retry-After``) and come back later. Resumes that read the log get a small
gate of their own, and each user and client address a cap on its open streams. No I/O here.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque


class Admission:
    """A FIFO gate: ``await enter()`` is True once admitted, False when refused."""

    def __init__(self, max_opening: int, max_waiting: int, wait_s: float) -> None:
        self.max_opening = max_opening
        self.max_waiting = max_waiting
        self.wait_s = wait_s
        self.opening = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def enter(self) -> bool:
        if self.opening < self.max_opening and not self._waiters:
            self.opening += 1
            return True
        if len(self._waiters) >= self.max_waiting:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.wait_s):
                await waiter  # leave() hands its slot over: ``opening`` is already counted
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return True  # the slot arrived as the wait timed out
            return False
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # admitted, then cancelled: give the slot on
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return True

    def leave(self) -> None:
        """A stream is set up (or gone): its slot goes to the longest waiter."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.opening -= 1


class StreamCounts:
    """Open streams per key (a user, a client address), each key at most ``limit`` (0: no
    limit). Counted per instance: a stream stays on the instance that opened it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, key: str) -> bool:
        """Count one more stream of ``key``; False (nothing counted) when it is at its limit."""
        if self.limit and self._open[key] >= self.limit:
            return False
        self._open[key] += 1
        return True

    def release(self, key: str) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def __getitem__(self, key: str) -> int:
        return self._open.get(key, 0)


def jittered(base: float, spread: float, rng: random.Random | None = None) -> float:
    """``base`` plus a uniform random share of ``spread``: clients cut off together differ."""
    return base + (rng or random).uniform(0, spread)


def retry_frame(milliseconds: float) -> bytes:
    """An SSE block that only sets the client's reconnection delay."""
    return f"retry: {max(0, int(milliseconds))}\n\n".encode()
