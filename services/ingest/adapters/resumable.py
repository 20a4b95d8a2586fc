"""Resumable uploads: the rules between the tus routes, the ``uploads`` table and storage.

A chunk is adopted only once it is durable in storage and its checksum (if given) matched;
adopting moves the row's offset and storage state together. The file's sha256 is kept running
in memory while one process sees every chunk; after a restart it is computed from storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from services.core.runtime.clock import Clock, system_clock
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
from services.ingest.adapters.upload_records import (
    Lease,
    LeaseRefused,
    Refusal,
    UploadRecord,
    UploadRecords,
)
from services.ingest.http.tus_protocol import BeyondLength, Checksum

log = logging.getLogger(__name__)


class UploadLimitReached(Exception):
    """The user already has as many unfinished uploads as allowed."""


class QuotaReached(Exception):
    """What the user stores and reserves, plus this upload, passes their storage quota."""


class UploadBusy(Exception):
    """Another request holds the upload (a concurrent PATCH, or the sweep)."""


class TooManyWrites(Exception):
    """As many PATCHes as allowed run already, for this user or in this process (``scope``)."""

    def __init__(self, scope: str, limit: int) -> None:
        super().__init__(scope)
        self.scope, self.limit = scope, limit


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
        clock: Clock = system_clock,
    ) -> None:
        self.records, self._partials, self._store = records, partials, store
        self._clock = clock  # the routes' clock: expiry is decided by both
        self.max_size = settings.max_file_size
        self._expiry = timedelta(seconds=settings.upload_expiry_s)
        self._limit = settings.max_unfinished_uploads
        self._lease_s = settings.upload_lease_s
        self._per_user = settings.upload_patches_per_user
        self._per_process = settings.upload_patches_per_process
        self._writing = 0  # PATCHes this process runs now
        self._digests: dict[str, tuple[int, hashlib._Hash]] = {}  # id -> (offset, sha256 so far)

    def expires(self) -> datetime:
        return self._clock() + self._expiry

    async def create(
        self, user_id: str, length: int, budget: int | None, **fields: str | None
    ) -> UploadRecord:
        """A new empty upload reserving ``length`` of ``budget`` (the quota minus what the user
        stores; None: no quota). ``fields``: filename, options, batch_id, metadata_header."""
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
        refusal = await self.records.create(record, limit=self._limit, budget=budget)
        if refusal is Refusal.UNFINISHED_LIMIT:
            raise UploadLimitReached(self._limit)
        if refusal is Refusal.STORAGE_QUOTA:
            raise QuotaReached(length)
        self._digests[record.id] = (0, hashlib.sha256())
        return record

    @contextlib.asynccontextmanager
    async def writing(self, record: UploadRecord) -> AsyncIterator[Lease]:
        """Hold ``record``'s lease for one PATCH, within the per-process and per-user caps;
        raises TooManyWrites or UploadBusy."""
        if self._writing >= self._per_process:
            raise TooManyWrites("process", self._per_process)
        self._writing += 1
        try:
            async with self._leased(record, user_cap=(record.user_id, self._per_user)) as lease:
                yield lease
        finally:
            self._writing -= 1

    @contextlib.asynccontextmanager
    async def _leased(
        self, record: UploadRecord, user_cap: tuple[str, int] | None = None
    ) -> AsyncIterator[Lease]:
        try:
            async with self.records.leased(record.id, self._lease_s, user_cap=user_cap) as lease:
                yield lease
        except LeaseRefused as exc:
            if exc.reason is Refusal.USER_CAP:
                raise TooManyWrites("user", self._per_user) from None
            raise UploadBusy(record.id) from None

    async def append(
        self,
        lease: Lease,
        chunks: AsyncIterable[bytes],
        checksum: Checksum | None,
        interrupted: Callable[[], bool],
    ) -> UploadRecord:
        """Store ``chunks`` after the leased row's offset and adopt them; the new record.

        Raises UploadBusy (the lease lapsed meanwhile), BeyondLength or ChecksumMismatch; in
        each of these cases the chunk is dropped.
        """
        current = lease.record
        running = self._digests.get(current.id)
        whole = running[1].copy() if running and running[0] == current.offset else None
        part = hashlib.new(checksum.algorithm) if checksum else None
        hashers = [h for h in (whole, part) if h is not None]
        key = keys.source_key(current.job_id)

        def observe(block: bytes | memoryview) -> None:
            for hasher in hashers:
                hasher.update(block)

        try:
            state = await self._partials.append(
                key,
                current.state,
                chunks,
                max_bytes=current.length - current.offset,
                observe=observe,
            )
        except ObjectTooLarge:
            raise BeyondLength("the body goes past Upload-Length") from None
        if checksum is not None and part is not None:
            if interrupted() or not checksum.matches(part):
                raise ChecksumMismatch(checksum.algorithm)
        if state.offset == current.offset:
            return current
        adopted = replace(current, state=state, expires_at=self.expires())
        if not await self.records.adopt(lease, current, state, adopted.expires_at):
            raise UploadBusy(current.id)  # the lease lapsed and another request took it
        if whole is not None:
            self._digests[current.id] = (state.offset, whole)
        await self._partials.prune(key, state)
        return adopted

    async def within_quota(self, record: UploadRecord, budget: int | None) -> bool:
        """Whether ``record`` still fits ``budget`` beside the user's other reservations."""
        if budget is None:
            return True
        others = await self.records.reserved(record.user_id, besides=record.id)
        return others + record.length <= budget

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
        async with self._leased(record) as lease:
            await self._remove(lease.record)

    async def sweep(self) -> int:
        """Remove expired uploads (skipping any a request holds); returns how many."""
        removed = 0
        for listed in await self.records.expired(self._clock()):
            try:
                async with self._leased(listed) as lease:
                    # the listing may be stale: the upload may have completed or got a chunk
                    if lease.record.expires_at > self._clock():
                        continue
                    await self._remove(lease.record)
                    removed += 1
            except UploadBusy:
                continue
        if removed:
            log.info("removed %d expired uploads", removed)
        return removed

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
