"""The ``ObjectStore`` interface, the objects it returns and the errors it raises.

Pure: implementations (``local``, ``s3``) import this module, never the other way round.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class StorageError(Exception):
    """Base class for object storage failures."""


class ObjectNotFound(StorageError):
    """The key names no object."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object not found: {key}")
        self.key = key


class ObjectTooLarge(StorageError):
    """An upload crossed its ``max_bytes`` limit; nothing was stored."""

    def __init__(self, key: str, max_bytes: int) -> None:
        super().__init__(f"object {key} exceeds {max_bytes} bytes")
        self.key = key
        self.max_bytes = max_bytes


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object as the store knows it.

    ``sha256`` (hex) is computed while writing; ``stat`` never re-reads objects, so it gives None.
    """

    key: str
    size_bytes: int
    sha256: str | None
    content_type: str
    modified_at: float | None = None  # epoch seconds, from ``stat``: how old an orphan is


class ObjectStore(Protocol):
    """Async object storage; blocking I/O runs in worker threads. Writes replace atomically."""

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> StoredObject:
        """Store ``chunks`` in constant memory; on ObjectTooLarge or any error, nothing is left."""
        ...

    async def put_file(
        self, key: str, path: Path, *, content_type: str | None = None
    ) -> StoredObject:
        """Upload the local file ``path``."""
        ...

    async def get_to_file(self, key: str, path: Path) -> None:
        """Download the object to ``path``; raises ObjectNotFound."""
        ...

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)`` (slice semantics, clamped to the size; not HTTP's
        inclusive end). Raises ObjectNotFound on first iteration: call ``stat`` first."""
        ...

    async def stat(self, key: str) -> StoredObject | None:
        """Size and content type, or None when missing."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether the object exists."""
        ...

    async def delete(self, key: str) -> None:
        """Delete the object; deleting a missing key is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix`` (not empty); return the count."""
        ...

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Sorted keys starting with ``prefix``."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file holding the object, for stores backed by the local filesystem; else None."""
        ...

    async def presigned_url(
        self, key: str, *, expires_s: int = 300, filename: str | None = None
    ) -> str | None:
        """A time-limited GET URL (downloads as ``filename`` if given), or None if unsupported."""
        ...

    def close(self) -> None:
        """Release clients and connection pools."""
        ...
