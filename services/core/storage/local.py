"""``ObjectStore`` on a local directory (``STORAGE_URL=file:///abs/path``).

Writes go to a temp file in the target's directory and are renamed into place, so readers
never see a partial object and a failed upload leaves nothing behind.

Objects are private to the user running vidpipe: files ``0600``, directories ``0700`` (users'
media is nobody else's to read on a shared machine), whatever the umask.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from pathlib import Path
from typing import IO

from services.core.storage.content import guess_content_type
from services.core.storage.interface import ObjectNotFound, StorageError, StoredObject
from services.core.storage.keys import PARTIAL_PREFIX, validate_key, validate_prefix
from services.core.storage.transfer import (
    READ_CHUNK,
    check_range,
    hash_file,
    pump_chunks,
    run_cleanup,
)

_FLUSH_BYTES = 1024 * 1024
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def make_private_dirs(path: Path) -> None:
    """``mkdir -p path``, every directory it creates ``0700`` (``Path.mkdir`` gives the
    parents the umask's mode)."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by a concurrent writer
            directory.mkdir(mode=PRIVATE_DIR)


class LocalObjectStore:
    """Objects as files under ``root``; ``stat`` guesses content types from key extensions."""

    def __init__(self, root: Path) -> None:
        if not root.is_absolute():
            raise ValueError(f"local storage root must be absolute: {root}")
        self._root = Path(os.path.realpath(root))

    def _path(self, key: str) -> Path:
        path = self._root / validate_key(key)
        # Keys are checked lexically above; this catches symlinks inside the root.
        if not Path(os.path.realpath(path)).is_relative_to(self._root):
            raise ValueError(f"storage key escapes the store root: {key!r}")
        return path

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> StoredObject:
        """Stream ``chunks`` to a temp file, then rename it over ``key``."""
        target = self._path(key)
        partial = await asyncio.to_thread(_PartialFile, key, target)
        try:
            pumped = await pump_chunks(
                key, chunks, partial.write, flush_bytes=_FLUSH_BYTES, max_bytes=max_bytes
            )
            await asyncio.to_thread(partial.commit, pumped.tail)
        except BaseException:
            await run_cleanup(partial.abort)
            raise
        content_type = content_type or guess_content_type(key)
        return StoredObject(key, pumped.size, pumped.sha256, content_type)

    async def put_file(
        self, key: str, path: Path, *, content_type: str | None = None
    ) -> StoredObject:
        """Copy ``path`` in, hashing while copying."""
        target = self._path(key)
        with _os_errors(key):
            size, sha256 = await asyncio.to_thread(_copy_in, key, path, target)
        return StoredObject(key, size, sha256, content_type or guess_content_type(key))

    async def get_to_file(self, key: str, path: Path) -> None:
        """Copy the object to ``path``."""
        source = self._path(key)
        await asyncio.to_thread(_copy_out, key, source, path)

    async def open_range(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)`` of the object."""
        check_range(start, end)
        source = self._path(key)
        with _os_errors(key, reading=True):
            file = await asyncio.to_thread(source.open, "rb")
        try:
            await asyncio.to_thread(file.seek, start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await asyncio.to_thread(file.read, size)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            file.close()  # closing a read-only file does not block

    async def stat(self, key: str) -> StoredObject | None:
        """Size, guessed content type and modification time, or None."""
        path = self._path(key)
        with _os_errors(key):
            found = await asyncio.to_thread(_file_stat, path)
        if found is None:
            return None
        return StoredObject(key, found.st_size, None, guess_content_type(key), found.st_mtime)

    async def exists(self, key: str) -> bool:
        """Whether the object exists."""
        return await self.stat(key) is not None

    async def delete(self, key: str) -> None:
        """Remove the file and any directories this leaves empty."""
        path = self._path(key)
        with _os_errors(key):
            await asyncio.to_thread(self._delete_paths, [path])

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix``."""
        if not validate_prefix(prefix):
            raise ValueError("refusing to delete_prefix(''): it would empty the whole store")
        keys = await self.list(prefix)
        with _os_errors(prefix):
            return await asyncio.to_thread(self._delete_paths, [self._path(k) for k in keys])

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Sorted keys starting with ``prefix``; in-progress uploads are not listed."""
        validate_prefix(prefix)
        with _os_errors(prefix):
            return await asyncio.to_thread(self._list, prefix)

    def local_path(self, key: str) -> Path | None:
        """The object's file (it may not exist)."""
        return self._path(key)

    async def presigned_url(
        self, key: str, *, expires_s: int = 300, filename: str | None = None
    ) -> str | None:
        """Always None: local objects are served by the application."""
        validate_key(key)
        return None

    def close(self) -> None:
        """Nothing to release."""

    def _list(self, prefix: str) -> builtins.list[str]:
        # Walk only the deepest directory the prefix names, then filter by string prefix.
        directory = prefix.rpartition("/")[0]
        start = self._root / directory if directory else self._root
        keys: builtins.list[str] = []
        for dirpath, _dirnames, filenames in os.walk(start):
            for name in filenames:
                key = Path(dirpath, name).relative_to(self._root).as_posix()
                if not name.startswith(PARTIAL_PREFIX) and key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def _delete_paths(self, paths: builtins.list[Path]) -> int:
        deleted = 0
        for path in paths:
            try:
                path.unlink()
                deleted += 1
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
            self._prune(path.parent)
        return deleted

    def _prune(self, directory: Path) -> None:
        # Empty per-job directories would otherwise pile up forever.
        while directory != self._root and directory.is_relative_to(self._root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


@contextlib.contextmanager
def _os_errors(key: str, *, reading: bool = False) -> Iterator[None]:
    """Turn OSError into StorageError (ObjectNotFound for a missing object when reading)."""
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        if reading:
            raise ObjectNotFound(key) from exc
        raise StorageError(f"{key}: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"{key}: {exc}") from exc


class _PartialFile:
    """A temp file beside ``target`` that becomes ``target`` only on ``commit``."""

    def __init__(self, key: str, target: Path) -> None:
        self.key, self.target = key, target
        with _os_errors(key):
            for attempt in range(3):  # a concurrent delete may prune the directory we just made
                make_private_dirs(target.parent)
                try:
                    fd, name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, dir=target.parent)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
            os.fchmod(fd, PRIVATE_FILE)  # mkstemp's mode already; said here, as the rule
        self.temp = Path(name)
        self.file: IO[bytes] = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        with _os_errors(self.key):
            self.file.write(data)

    def commit(self, tail: bytes) -> None:
        with _os_errors(self.key):
            self.file.write(tail)
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.temp, self.target)

    def abort(self) -> None:
        self.file.close()
        self.temp.unlink(missing_ok=True)


def _file_stat(path: Path) -> os.stat_result | None:
    try:
        result = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return result if stat.S_ISREG(result.st_mode) else None


def _copy_in(key: str, source: Path, target: Path) -> tuple[int, str]:
    partial = _PartialFile(key, target)
    try:
        size, sha256 = hash_file(source, partial.write)
        partial.commit(b"")
    except BaseException:
        partial.abort()
        raise
    return size, sha256


def _copy_out(key: str, source: Path, destination: Path) -> None:
    with _os_errors(key, reading=True):
        reader = source.open("rb")
    with reader, _os_errors(key), destination.open("wb") as writer:
        shutil.copyfileobj(reader, writer, READ_CHUNK)
