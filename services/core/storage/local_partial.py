"""``PartialUploads`` on a local directory: one file beside the target, renamed on completion.

The file is ``.partial-tus-<name>`` in the target's directory (a reserved segment, so no key
reaches it and listings skip it). Bytes past the adopted offset are leftovers of a chunk that was
not adopted: each append truncates them first, so the file never has to be rewritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterable, Iterator
from pathlib import Path
from typing import IO

from services.core.storage.content import guess_content_type
from services.core.storage.interface import ObjectNotFound, StorageError, StoredObject
from services.core.storage.keys import PARTIAL_PREFIX
from services.core.storage.local import PRIVATE_FILE, LocalObjectStore, make_private_dirs
from services.core.storage.partial import Observe, PartialState, pump_blocks
from services.core.storage.transfer import run_cleanup

_FLUSH_BYTES = 1024 * 1024


@contextlib.contextmanager
def _os_errors(key: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StorageError(f"{key}: {exc}") from exc


class LocalPartialUploads:
    """In-progress uploads under ``root``, the root of the store they complete into."""

    def __init__(self, root: Path) -> None:
        self._objects = LocalObjectStore(root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        target = self._objects.local_path(key)
        assert target is not None
        return target, target.with_name(f"{PARTIAL_PREFIX}tus-{target.name}")

    async def append(
        self,
        key: str,
        state: PartialState,
        chunks: AsyncIterable[bytes],
        *,
        max_bytes: int,
        observe: Observe | None = None,
    ) -> PartialState:
        """Write at ``state.offset`` (dropping leftovers past it), then fsync."""
        _, partial = self._paths(key)
        with _os_errors(key):
            file = await asyncio.to_thread(_open_at, partial, state.offset)
        try:
            size, rest = await pump_blocks(
                key,
                chunks,
                lambda block: _write(key, file, block),
                flush_bytes=_FLUSH_BYTES,
                max_bytes=max_bytes,
                observe=observe,
            )
            await asyncio.to_thread(_sync, key, file, rest)
        finally:
            await run_cleanup(file.close)
        return PartialState(state.offset + size)

    async def complete(self, key: str, state: PartialState) -> StoredObject:
        """Cut leftovers, then rename the file over the target (atomic)."""
        target, partial = self._paths(key)
        with _os_errors(key):
            await asyncio.to_thread(_complete, key, partial, target, state.offset)
        return StoredObject(key, state.offset, None, guess_content_type(key))

    async def prune(self, key: str, adopted: PartialState) -> None:
        """Nothing to do: the next append cuts leftovers."""

    async def abort(self, key: str, state: PartialState) -> None:
        """Remove the file, and its directory if that leaves it empty."""
        _, partial = self._paths(key)
        with _os_errors(key):
            await asyncio.to_thread(_remove, partial)

    def close(self) -> None:
        """Nothing to release."""


def _open_at(path: Path, offset: int) -> IO[bytes]:
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    file = os.fdopen(fd, "r+b")
    if os.fstat(fd).st_size < offset:
        file.close()
        raise StorageError(f"{path.name}: holds fewer bytes than the adopted offset {offset}")
    file.truncate(offset)
    file.seek(offset)
    return file


def _write(key: str, file: IO[bytes], block: bytes) -> None:
    with _os_errors(key):
        file.write(block)


def _sync(key: str, file: IO[bytes], rest: bytes) -> None:
    with _os_errors(key):
        file.write(rest)
        file.flush()
        os.fsync(file.fileno())


def _complete(key: str, partial: Path, target: Path, size: int) -> None:
    if not partial.exists():
        if target.is_file() and target.stat().st_size == size:
            return  # completed before: the rename happened
        if size:
            raise ObjectNotFound(key)
    with _open_at(partial, size) as file:  # also creates an empty upload's file
        os.fsync(file.fileno())
    os.replace(partial, target)


def _remove(partial: Path) -> None:
    partial.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty, or already gone
        partial.parent.rmdir()
