"""Failed logins, counted per account and per client address (in process memory).

After ``max_failures`` failures within ``window_s`` an account is locked for ``window_s``
(an address after ``ADDRESS_FACTOR`` times as many: one address may serve many honest
people). Unknown usernames are counted exactly like accounts, so the answer never says
whether an account exists. A success clears the account's count, not the address's.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from services.core.http.errors import ApiError

ADDRESS_FACTOR = 4
MAX_KEYS = 100_000  # beyond this, the oldest records are forgotten so memory stays bounded


@dataclass
class _Failures:
    count: int
    first: float
    locked_until: float = 0.0


class LoginLockout:
    """Per-key failure counts and lock windows."""

    def __init__(self, max_failures: int, window_s: int) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, _Failures] = {}

    def check(self, account: str, address: str) -> None:
        """Raise 429 with ``Retry-After`` while the account or the address is locked."""
        now = time.monotonic()
        wait = max(self._wait(f"account:{account}", now), self._wait(f"address:{address}", now))
        if wait > 0:
            seconds = math.ceil(wait)
            raise ApiError(
                429,
                "login_locked",
                f"too many failed logins; retry in {seconds}s",
                {"Retry-After": str(seconds)},
            )

    def failed(self, account: str, address: str) -> None:
        now = time.monotonic()
        self._count(f"account:{account}", self.max_failures, now)
        self._count(f"address:{address}", self.max_failures * ADDRESS_FACTOR, now)

    def succeeded(self, account: str) -> None:
        self._failures.pop(f"account:{account}", None)

    def _wait(self, key: str, now: float) -> float:
        record = self._failures.get(key)
        return 0.0 if record is None else record.locked_until - now

    def _count(self, key: str, limit: int, now: float) -> None:
        record = self._failures.get(key)
        if record is None or now - record.first > self.window_s:
            if len(self._failures) >= MAX_KEYS:
                self._evict(now)
            record = self._failures[key] = _Failures(0, now)
        record.count += 1
        if record.count >= limit:
            record.locked_until = now + self.window_s
            record.count, record.first = 0, now  # a fresh count once the lock ends

    def _evict(self, now: float) -> None:
        stale = [k for k, r in self._failures.items() if r.locked_until < now]
        for key in stale or list(self._failures)[: MAX_KEYS // 10]:
            del self._failures[key]
