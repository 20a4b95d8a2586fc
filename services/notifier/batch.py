"""Many concurrent lookups answered by one query: what a reconnect storm needs from PostgreSQL.

``await batcher.get(key)`` joins the next batch; one flush at a time runs ``fetch`` over every
key gathered so far (at most ``max_keys``), and keys that arrive while it runs form the next
batch. No timer: an idle batcher answers at once, a busy one answers N callers with one query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Batcher(Generic[K, V]):
    """Coalesces ``get(key)`` calls into ``fetch(keys) -> {key: value}`` calls."""

    def __init__(
        self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]], default: V, max_keys: int = 500
    ) -> None:
        self._fetch = fetch
        self._default = default  # the answer for a key ``fetch`` did not return
        self._max_keys = max_keys
        self._pending: dict[K, asyncio.Future[V]] = {}
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0  # how many times ``fetch`` ran (tests and the bench read it)

    async def get(self, key: K) -> V:
        future = self._pending.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._pending[key] = future
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush_all())
        return await asyncio.shield(future)  # one caller leaving does not cancel the others

    async def _flush_all(self) -> None:
        try:
            await asyncio.sleep(0)  # let the callers of this loop iteration join the batch
            while self._pending:
                keys = list(self._pending)[: self._max_keys]
                futures = [self._pending.pop(key) for key in keys]
                self.flushes += 1
                try:
                    found = await self._fetch(keys)
                except Exception as exc:  # every caller of this batch gets the error
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                            future.exception()  # retrieved: no "never retrieved" warning
                    continue
                for key, future in zip(keys, futures, strict=True):
                    if not future.done():
                        future.set_result(found.get(key, self._default))
        finally:
            self._task = None
