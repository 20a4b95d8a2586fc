"""Rebuild from offset 0 into fresh tables and swap them in while readers keep reading."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from services.core.db.accounts import metadata
from services.core.db.engine import create_engine, plain_url
from services.core.kafka.clients import ensure_topics
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints
from services.projector.rebuild import LogIncomplete, rebuild
from tests.support.projector import CatchUp, PublishEnvelopes, Running, checksums
from tests.support.stream import job_uuid, recorded_stream


class Readers:
    """Tasks reading ``jobs`` and ``processing_history`` in a loop, as ingest does."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.reads = 0
        self.errors: list[BaseException] = []
        self.table_oids: set[int] = set()
        self._stop = asyncio.Event()

    async def raw(self) -> None:  # asyncpg with its prepared-statement cache
        conn = await asyncpg.connect(plain_url(self.db_url))
        try:
            while not self._stop.is_set():
                try:
                    await conn.fetchrow("SELECT * FROM jobs WHERE id=$1", job_uuid("r", 1))
                    await conn.fetch(
                        "SELECT * FROM processing_history WHERE job_id=$1 ORDER BY created_at",
                        job_uuid("r", 1),
                    )
                    self.table_oids.add(await conn.fetchval("SELECT 'jobs'::regclass::oid"))
                    self.reads += 1
                except Exception as exc:
                    self.errors.append(exc)
        finally:
            await conn.close()

    async def orm(self) -> None:  # SQLAlchemy's pool, as the ingest service reads
        engine = create_engine(self.db_url, pool_size=2)
        try:
            while not self._stop.is_set():
                try:
                    async with engine.connect() as conn:
                        await conn.execute(
                            text(
                                "SELECT * FROM jobs WHERE deleted_at IS NULL "
                                "ORDER BY created_at DESC LIMIT 20"
                            )
                        )
                    self.reads += 1
                except Exception as exc:
                    self.errors.append(exc)
                await asyncio.sleep(0)
        finally:
            await engine.dispose()

    @contextlib.asynccontextmanager
    async def running(self):  # type: ignore[no-untyped-def]
        tasks = [
            asyncio.create_task(self.raw()),
            asyncio.create_task(self.orm()),
            asyncio.create_task(self.raw()),
        ]
        try:
            yield self
        finally:
            self._stop.set()
            await asyncio.gather(*tasks)


async def test_rebuild_swaps_in_while_readers_never_fail(
    settings: Settings,
    endpoints: Endpoints,
    publish_envelopes: PublishEnvelopes,
    running_projector: Running,
    catch_up: CatchUp,
    db_url: str,
) -> None:
    first, later = recorded_stream(400, seed="r"), recorded_stream(50, seed="later")
    await publish_envelopes(first)
    async with running_projector():
        await catch_up()
        before = await checksums(db_url)
        async with Readers(db_url).running() as readers:
            publishing = asyncio.create_task(publish_envelopes(later))
            report = await rebuild(settings, endpoints)
            await publishing
            await catch_up()
        assert readers.errors == []
        assert len(readers.table_oids) == 2, "readers saw the old table, then the new one"
        assert report.jobs >= 400
        after = await checksums(db_url)
    assert after["count"] == "450"
    assert after != before
    # A clean rebuild (no live projector, nothing arriving) gives the same tables.
    await rebuild(settings, endpoints)
    assert await checksums(db_url) == after
    engine = create_engine(db_url)

    def diff(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
            names = await conn.execute(
                text(
                    "SELECT conname FROM pg_constraint WHERE conname LIKE '%rebuild%' "
                    "UNION SELECT indexname FROM pg_indexes WHERE indexname LIKE '%rebuild%'"
                )
            )
            assert names.all() == []
    finally:
        await engine.dispose()


async def test_rebuild_refuses_a_log_that_lost_its_first_records(
    settings: Settings,
    endpoints: Endpoints,
    publish_envelopes: PublishEnvelopes,
    running_projector: Running,
    catch_up: CatchUp,
    db_url: str,
) -> None:
    await publish_envelopes(recorded_stream(40, seed="cut"))
    async with running_projector():
        await catch_up()
    before = await checksums(db_url)
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    await admin.start()
    try:  # as retention would: the first record of one partition is gone
        await admin.delete_records(
            {TopicPartition(settings.topic("video.jobs"), 3): RecordsToDelete(1)}
        )
    finally:
        await admin.close()
    with pytest.raises(LogIncomplete, match="partition 3 starts at offset 1"):
        await rebuild(settings, endpoints)
    assert await checksums(db_url) == before, "the serving tables are untouched"
    assert await _rebuild_leftovers(db_url) == []
    report = await rebuild(settings, endpoints, force=True)
    assert report.jobs <= 40


async def test_rebuild_refuses_a_log_with_fewer_jobs_than_the_table(
    settings: Settings,
    endpoints: Endpoints,
    publish_envelopes: PublishEnvelopes,
    running_projector: Running,
    catch_up: CatchUp,
    db_url: str,
    topic_prefix: str,
) -> None:
    await publish_envelopes(recorded_stream(30, seed="few"))
    async with running_projector():
        await catch_up()
    before = await checksums(db_url)
    # The broker's log was replaced by a younger one (a new, empty set of topics).
    fresh = dataclasses.replace(settings, topic_prefix="x" + topic_prefix)
    await ensure_topics(endpoints.kafka_bootstrap_servers, topic_prefix=fresh.topic_prefix)
    with pytest.raises(LogIncomplete, match="holds 0 of the 30 jobs"):
        await rebuild(fresh, endpoints)
    assert await checksums(db_url) == before, "the serving tables are untouched"
    assert await _rebuild_leftovers(db_url) == []


async def _rebuild_leftovers(db_url: str) -> list[str]:
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE tablename LIKE '%rebuild%'")
        return [r["tablename"] for r in rows]
    finally:
        await conn.close()
