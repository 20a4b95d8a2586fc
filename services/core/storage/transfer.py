"""Byte-moving helpers the store implementations share: chunk pumping, hashing, ranges."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path

from services.core.storage.interface import ObjectTooLarge

READ_CHUNK = 256 * 1024


def check_range(start: int, end: int | None) -> None:
    """Reject negative or reversed byte ranges."""
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range: start={start} end={end}")


@dataclass(frozen=True, slots=True)
class Pumped:
    """Result of ``pump_chunks``: totals, and the unflushed tail (already hashed)."""

    size: int
    sha256: str
    tail: bytes


async def pump_chunks(
    key: str,
    chunks: AsyncIterable[bytes],
    write: Callable[[bytes], None],
    *,
    flush_bytes: int,
    max_bytes: int | None,
) -> Pumped:
    """Feed ``chunks`` to blocking ``write`` in a worker thread, ``flush_bytes`` or more at a time.

    Hashing happens in that thread too, so the event loop only concatenates small chunks.
    """
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray()

    def flush(data: bytearray) -> None:
        digest.update(data)
        write(bytes(data))

    async for chunk in chunks:
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise ObjectTooLarge(key, max_bytes)
        buffer += chunk
        if len(buffer) >= flush_bytes:
            full, buffer = buffer, bytearray()
            await asyncio.to_thread(flush, full)
    await asyncio.to_thread(digest.update, buffer)
    return Pumped(size, digest.hexdigest(), bytes(buffer))


def hash_file(path: Path, write: Callable[[bytes], None] | None = None) -> tuple[int, str]:
    """Size and sha256 of ``path``, optionally passing each block to ``write`` (blocking)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while block := source.read(READ_CHUNK):
            digest.update(block)
            size += len(block)
            if write is not None:
                write(block)
    return size, digest.hexdigest()


async def run_cleanup(cleanup: Callable[[], None]) -> None:
    """Run blocking ``cleanup`` in a thread; shielded so a second cancel cannot skip it."""
    await asyncio.shield(asyncio.to_thread(cleanup))
