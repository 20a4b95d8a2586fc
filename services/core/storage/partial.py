"""The ``PartialUploads`` interface: objects written over many requests, durable in between.

A resumable (tus) upload appends to its object across requests and restarts. Each ``append``
returns a new ``PartialState`` and leaves the state it started from valid: until the caller
adopts the result (stores it beside the upload's offset), nothing the old state names changes,
so a refused chunk (bad checksum, too large) is dropped by simply not adopting it.
Pure: implementations (``local_partial``, ``s3_partial``) import this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.core.storage.interface import ObjectTooLarge, StoredObject


@dataclass(frozen=True, slots=True)
class PartialState:
    """How far an upload got: bytes stored, and what the backend needs to go on (JSON-safe,
    opaque to the caller, which stores it and hands it back)."""

    offset: int = 0
    backend: dict[str, Any] = field(default_factory=dict)


Observe = Callable[[bytes | memoryview], None]


class PartialUploads(Protocol):
    """Durable in-progress uploads to the object at ``key`` (one upload per key at a time)."""

    async def append(
        self,
        key: str,
        state: PartialState,
        chunks: AsyncIterable[bytes],
        *,
        max_bytes: int,
        observe: Observe | None = None,
    ) -> PartialState:
        """Store ``chunks`` after ``state.offset`` (durably, once this returns). Raises
        ObjectTooLarge past ``max_bytes`` more bytes; ``state`` stays valid in every outcome.
        ``observe`` sees every appended byte once, in order, in the worker thread that writes
        it (hashing there keeps it off the event loop and saves a second pass)."""
        ...

    async def complete(self, key: str, state: PartialState) -> StoredObject:
        """Make the first ``state.offset`` bytes the object at ``key`` (``sha256`` is None) and
        remove the partial data; completing again afterwards returns the same object."""
        ...

    async def prune(self, key: str, adopted: PartialState) -> None:
        """Remove what only states older than ``adopted`` need (call after adopting it)."""
        ...

    async def abort(self, key: str, state: PartialState) -> None:
        """Remove everything stored for the upload; aborting twice is not an error."""
        ...

    def close(self) -> None:
        """Release clients and connection pools."""
        ...


async def pump_blocks(
    key: str,
    chunks: AsyncIterable[bytes],
    write: Callable[[bytes], None],
    *,
    flush_bytes: int,
    max_bytes: int,
    buffer: bytearray | None = None,
    observe: Observe | None = None,
) -> tuple[int, bytes]:
    """Feed ``chunks`` (after ``buffer``) to blocking ``write`` in a worker thread, at least
    ``flush_bytes`` at a time; return the bytes read from ``chunks`` and the unwritten rest.
    ``observe`` sees the bytes of ``chunks`` (not ``buffer``'s, seen before) in that thread."""
    pending = buffer if buffer is not None else bytearray()
    seen = len(pending)  # the leading bytes of ``pending`` that ``observe`` saw already
    size = 0

    def flush(block: bytes, skip: int) -> None:
        if observe is not None:
            observe(memoryview(block)[skip:])
        write(block)

    # One block is written while the next is received: at most one write in flight, so blocks
    # land in order, and every block handed over is written before this returns or raises.
    writing: asyncio.Future[None] | None = None
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise ObjectTooLarge(key, max_bytes)
            pending += chunk
            if len(pending) >= flush_bytes:
                full, pending = bytes(pending), bytearray()
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(asyncio.to_thread(flush, full, seen))
                seen = 0
    finally:
        if writing is not None:
            await writing
    rest = bytes(pending)
    if observe is not None and len(rest) > seen:
        await asyncio.to_thread(observe, memoryview(rest)[seen:])
    return size, rest
