"""Resumable uploads: the rules between the tus routes, the ``uploads`` table and storage.

A chunk is adopted only once it is durable in storage and its checksum (if given) matched;
adopting moves the row's offset and storage state together. The file's sha256 is kept running
in memory while one process sees every chunk; after a restart it is computed from storage.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.core.runtime.settings import Settings
from services.core.storage import (
    ObjectStore,
    ObjectTooLarge,
    PartialState,
    PartialUploads,
    StoredObject,
    keys,
)
from services.core.storage.transfer import hash_file
from services.ingest.adapters.upload_records import UploadRecord, UploadRecords
from services.ingest.http.tus_protocol import BeyondLength, Checksum, OffsetMismatch

HASH_BLOCK = 1024 * 1024  # hash (in a thread) and store this much at a time
log = logging.getLogger(__name__)


class UploadLimitReached(Exception):
    """The user already has as many unfinished uploads as allowed."""


class UploadBusy(Exception):
    """Another request holds the upload (a concurrent PATCH, or the sweep)."""


class ChecksumMismatch(Exception):
    """The chunk's digest is not its ``Upload-Checksum`` (or it arrived cut short)."""


class ResumableUploads:
    """Creating, appending to, completing and removing resumable uploads."""

    def __init__(
        self,
        settings: Settings,
        records: UploadRecords,
        partials: PartialUploads,
        store: ObjectStore,
    ) -> None:
        self.records, self._partials, self._store = records, partials, store
        self.max_size = settings.max_file_size
        self._expiry = timedelta(seconds=settings.upload_expiry_s)
        self._limit = settings.max_unfinished_uploads
        self._digests: dict[str, tuple[int, hashlib._Hash]] = {}  # id -> (offset, sha256 so far)

    def expires(self) -> datetime:
        return datetime.now(UTC) + self._expiry

    async def create(self, user_id: str, length: int, **fields: str | None) -> UploadRecord:
        """A new empty upload (``fields``: filename, options, batch_id, metadata_header)."""
        record = UploadRecord(
            id=str(uuid.uuid4()),
            user_id=user_id,
            job_id=str(uuid.uuid4()),
            length=length,
            state=PartialState(),
            filename=fields["filename"] or "upload",
            options=fields.get("options"),
            batch_id=fields.get("batch_id"),
            metadata_header=fields.get("metadata_header") or "",
            expires_at=self.expires(),
            completed_at=None,
        )
        if not await self.records.create(record, limit=self._limit):
            raise UploadLimitReached(self._limit)
        self._digests[record.id] = (0, hashlib.sha256())
        return record

    async def append(
        self,
        record: UploadRecord,
        chunks: AsyncIterable[bytes],
        checksum: Checksum | None,
        interrupted: Callable[[], bool],
    ) -> UploadRecord:
        """Store ``chunks`` after ``record``'s offset and adopt them; returns the new record.

        Raises UploadBusy, OffsetMismatch (the offset moved meanwhile), BeyondLength or
        ChecksumMismatch; in each of these cases the chunk is dropped.
        """
        async with self.records.locked(record.id) as got:
            if not got:
                raise UploadBusy(record.id)
            current = await self.records.get(record.id)
            if current is None or current.offset != record.offset:
                raise OffsetMismatch(current.offset if current else 0, record.offset)
            running = self._digests.get(record.id)
            whole = running[1].copy() if running and running[0] == record.offset else None
            part = hashlib.new(checksum.algorithm) if checksum else None
            hashers = [h for h in (whole, part) if h is not None]
            key = keys.source_key(record.job_id)
            try:
                state = await self._partials.append(
                    key,
                    current.state,
                    _hashed(chunks, hashers),
                    max_bytes=record.length - record.offset,
                )
            except ObjectTooLarge:
                raise BeyondLength("the body goes past Upload-Length") from None
            if checksum is not None and part is not None:
                if interrupted() or not checksum.matches(part):
                    raise ChecksumMismatch(checksum.algorithm)
            if state.offset == current.offset:
                return current
            adopted = replace(current, state=state, expires_at=self.expires())
            if not await self.records.adopt(current, state, adopted.expires_at):
                raise OffsetMismatch(current.offset, record.offset)
            if whole is not None:
                self._digests[record.id] = (state.offset, whole)
            await self._partials.prune(key, state)
            return adopted

    async def assemble(self, record: UploadRecord) -> StoredObject:
        """Turn a fully received upload into its source object, with its sha256."""
        key = keys.source_key(record.job_id)
        stored = await self._partials.complete(key, record.state)
        running = self._digests.get(record.id)
        if running and running[0] == record.length:
            sha256 = running[1].hexdigest()
        else:
            sha256 = await self._sha256(key)
        return replace(stored, sha256=sha256)

    async def completed(self, record: UploadRecord) -> None:
        """Its job is submitted: keep the row (for HEAD) until it expires."""
        await self.records.mark_completed(record.id, self.expires())
        self._digests.pop(record.id, None)

    async def remove(self, record: UploadRecord) -> None:
        """Delete the upload and, unless it became a job's source, its bytes. Raises UploadBusy."""
        async with self.records.locked(record.id) as got:
            if not got:
                raise UploadBusy(record.id)
            await self._remove(record)

    async def sweep(self) -> int:
        """Remove expired uploads (skipping any a request holds); returns how many."""
        removed = 0
        for record in await self.records.expired(datetime.now(UTC)):
            async with self.records.locked(record.id) as got:
                if got:
                    await self._remove(record)
                    removed += 1
        return removed

    async def sweep_forever(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                if removed := await self.sweep():
                    log.info("removed %d expired uploads", removed)
            except Exception:  # the next round retries; the sweep must not die
                log.exception("upload sweep failed")

    async def _remove(self, record: UploadRecord) -> None:
        if record.completed_at is None:
            key = keys.source_key(record.job_id)
            await self._partials.abort(key, record.state)
            await self._store.delete_prefix(keys.source_prefix(record.job_id))
        await self.records.delete(record.id)
        self._digests.pop(record.id, None)

    async def _sha256(self, key: str) -> str:
        path = self._store.local_path(key)
        if path is not None:
            return (await asyncio.to_thread(hash_file, path))[1]
        digest = hashlib.sha256()
        async for chunk in self._store.open_range(key):
            await asyncio.to_thread(digest.update, chunk)
        return digest.hexdigest()


async def _hashed(
    chunks: AsyncIterable[bytes], hashers: list[hashlib._Hash]
) -> AsyncIterator[bytes]:
    """``chunks`` regrouped into blocks of ``HASH_BLOCK``, each hashed in a worker thread."""

    def update(block: bytes) -> None:
        for hasher in hashers:
            hasher.update(block)

    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) >= HASH_BLOCK:
            block = bytes(buffer)
            buffer.clear()
            await asyncio.to_thread(update, block)
            yield block
    if buffer:
        block = bytes(buffer)
        await asyncio.to_thread(update, block)
        yield block
