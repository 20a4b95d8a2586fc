"""Object storage: the ``ObjectStore`` interface, its errors, ``open_store`` and shared helpers.

Keys are relative slash-separated paths chosen by code (``sources/{job_id}/source``,
``outputs/{job_id}/{attempt}/{name}``); listing is by plain string prefix, as in S3.
Implementations: ``storage_local.LocalObjectStore`` (``file://``) and ``storage_s3.S3ObjectStore`` (``s3://``).
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import mimetypes
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit

__all__ = [
    "ObjectNotFound",
    "ObjectStore",
    "ObjectTooLarge",
    "StorageError",
    "StoredObject",
    "content_disposition",
    "open_store",
    "validate_key",
]

PARTIAL_PREFIX = ".partial-"  # reserved segment prefix: local in-progress uploads
READ_CHUNK = 256 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Debian's mime.types maps .ts to Qt Linguist; the pipeline's own media types win.
_MEDIA_TYPES = {
    ".ts": "video/mp2t",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
}


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


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ValueError."""
    if not key or key.startswith("/") or "\\" in key or any(ord(char) < 32 for char in key):
        raise ValueError(f"invalid storage key: {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or segment.startswith(PARTIAL_PREFIX):
            raise ValueError(f"invalid storage key: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Like ``validate_key`` but allows "" and one trailing slash."""
    if prefix:
        validate_key(prefix.removesuffix("/"))
    return prefix


def check_range(start: int, end: int | None) -> None:
    """Reject negative or reversed byte ranges."""
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range: start={start} end={end}")


def guess_content_type(key: str) -> str:
    """Content type from the key's extension, defaulting to application/octet-stream."""
    suffix = Path(key).suffix.lower()
    return _MEDIA_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE


def content_disposition(filename: str) -> str:
    """An ``attachment`` header value carrying ``filename`` safely (RFC 6266 / RFC 8187)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    encoded = quote(filename, safe="")
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{encoded}"


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


def open_store(url: str, *, s3_endpoint_url: str | None = None) -> ObjectStore:
    """The store for ``STORAGE_URL``: ``file:///abs/path`` or ``s3://bucket/prefix``."""
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        from services.core.storage_local import LocalObjectStore  # imported late: it imports us

        return LocalObjectStore(Path(unquote(parts.path)))
    if parts.scheme == "s3" and parts.netloc:
        from services.core.storage_s3 import S3ObjectStore  # boto3 only when S3 is used

        return S3ObjectStore(parts.netloc, unquote(parts.path), endpoint_url=s3_endpoint_url)
    raise ValueError(f"STORAGE_URL must be file:///abs/path or s3://bucket/prefix, got {url!r}")
