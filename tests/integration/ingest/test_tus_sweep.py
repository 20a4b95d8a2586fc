"""The expiry sweep against an upload that completes while the sweep is listing: it must act on
the row as it is under the lease, not as it was listed (real PostgreSQL, storage and broker)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from services.core.db.engine import create_engine, plain_url
from services.core.storage import open_partial_uploads, open_store
from services.ingest.adapters.resumable import ResumableUploads
from services.ingest.adapters.upload_records import UploadRecord, UploadRecords
from tests.support.ingest import Api, stored_files
from tests.support.tus_client import Tus


class ListingThenHook(UploadRecords):
    """``expired()`` as usual, then ``hook`` runs before the sweep goes on: the race, pinned."""

    def __init__(self, engine: object, hook: Callable[[], Awaitable[None]]) -> None:
        super().__init__(engine)  # type: ignore[arg-type]
        self.hook = hook

    async def expired(self, now: datetime, limit: int = 100) -> list[UploadRecord]:
        listed = await super().expired(now, limit)
        await self.hook()
        return listed


async def _set_expiry(api: Api, upload_id: str, at: datetime) -> None:
    conn = await asyncpg.connect(plain_url(api.settings.database_url or ""))
    try:
        await conn.execute("UPDATE uploads SET expires_at = $2 WHERE id = $1", upload_id, at)
    finally:
        await conn.close()


async def test_an_upload_completing_while_the_sweep_lists_keeps_its_source(
    api: Api, video: bytes
) -> None:
    tus = Tus(api.client, await api.user())
    url = (await tus.create(len(video))).headers["Location"]
    upload_id = url.rsplit("/", 1)[1]
    assert (await tus.patch(url, 0, video[:-100])).status_code == 204
    await _set_expiry(api, upload_id, datetime(2000, 1, 1, tzinfo=UTC))
    finished: list[str] = []

    async def the_last_chunk_lands() -> None:
        # the chunk that arrived just as the sweep listed: the upload lives on and completes
        await _set_expiry(api, upload_id, datetime.now(UTC) + timedelta(hours=1))
        last = await tus.patch(url, len(video) - 100, video[-100:])
        assert last.status_code == 204, last.text
        finished.append(last.headers["Upload-Job-Id"])

    settings = api.settings
    engine = create_engine(settings.database_url or "", pool_size=2)
    store = open_store(settings.storage_url)
    partials = open_partial_uploads(settings.storage_url)
    try:
        records = ListingThenHook(engine, the_last_chunk_lands)
        removed = await ResumableUploads(settings, records, partials, store).sweep()
    finally:
        partials.close()
        store.close()
        await engine.dispose()
    assert finished, "the upload completed during the sweep"
    assert removed == 0
    assert [p.name for p in stored_files(api)] == ["source"], "the submitted job keeps its source"
    head = await tus.head(url)
    assert head.status_code == 200 and head.headers["Upload-Job-Id"] == finished[0]
