"""Token-bucket rate limits per client address and per user (in process memory)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from services.core.http.errors import ApiError

MAX_KEYS = 100_000  # beyond this, idle buckets are forgotten so memory stays bounded


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``per_address`` and ``per_user`` are requests per minute; bursts up to one minute's worth."""

    def __init__(self, per_address: int, per_user: int, per_auth_address: int) -> None:
        self.per_address = per_address
        self.per_user = per_user
        self.per_auth_address = per_auth_address
        self._buckets: dict[str, _Bucket] = {}

    def check(self, key: str, per_minute: int) -> None:
        """Take one token from ``key``'s bucket or raise 429 with ``Retry-After``."""
        if per_minute <= 0:
            return
        now = time.monotonic()
        rate = per_minute / 60.0
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._evict(now)
            bucket = self._buckets[key] = _Bucket(float(per_minute), now)
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            wait = math.ceil((1.0 - bucket.tokens) / rate)
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests; retry in {wait}s",
                {"Retry-After": str(wait)},
            )
        bucket.tokens -= 1.0

    def _evict(self, now: float) -> None:
        stale = [k for k, b in self._buckets.items() if now - b.updated > 60]
        for key in stale or list(self._buckets)[: MAX_KEYS // 10]:
            del self._buckets[key]
