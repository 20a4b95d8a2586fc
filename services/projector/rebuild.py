"""``vidpipe projector rebuild``: the read model again from offset 0, swapped in atomically.

The log is replayed into fresh tables (``jobs_rebuild``, ``processing_history_rebuild``) while
the live tables keep serving. Once caught up, one transaction renames the fresh tables into
place, drops the old ones and hands the rebuild's offsets to the live group. Readers queue
on the table lock for the few milliseconds of the swap and then read the new tables; the live
projector's next commit sees its stored offsets moved, rolls back and continues from the
rebuild's offsets, so the events it applied meanwhile are applied again to the new tables.

A rebuild refuses (LogIncomplete, nothing swapped) when the log cannot reproduce what the
tables hold: ``video.jobs`` no longer starts at offset 0, or the replay lacks a job the live
table has (the log was lost or replaced). ``force=True`` swaps in whatever the log gives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import MetaData
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from schemas.topics import JOBS, PROGRESS
from services.core.db.readmodel import APPLIED_CHANNEL, history_table, jobs_table
from services.core.kafka.security import client_options
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints
from services.projector.bootstrap import BATCH_RECORDS, CONSUMER_OPTIONS, GROUP, connect
from services.projector.consumer import Projector
from services.projector.postgres import LIVE_TABLES, REBUILD_TABLES, ReadModelStore

log = logging.getLogger(__name__)


class RebuildRunning(RuntimeError):
    """Another rebuild holds the rebuild lock."""


class LogIncomplete(RuntimeError):
    """The log cannot reproduce the live tables; the message says why. Nothing was swapped."""


EXTRA_PASSES = 3  # jobs submitted during the replay may explain a missing job: catch up again


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    batches: int
    jobs: int
    seconds: float

    def summary(self) -> str:
        return (
            f"rebuild: {self.jobs} jobs from {self.batches} batches in {self.seconds:.1f}s; "
            "swapped in"
        )


def rebuild_group(settings: Settings) -> str:
    """The ``projector_offsets`` key of a rebuild in progress."""
    return f"{settings.group(GROUP)}#rebuild"


def fresh_table_ddl() -> list[str]:
    """CREATE statements of the rebuild tables, from the same definitions as the migrations."""
    meta = MetaData()
    jobs = jobs_table(REBUILD_TABLES.jobs, meta)
    history = history_table(REBUILD_TABLES.history, meta, jobs_name=REBUILD_TABLES.jobs)
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    statements = []
    for table in (jobs, history):
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements += [str(CreateIndex(i).compile(dialect=dialect)) for i in table.indexes]
    return statements


async def rebuild(
    settings: Settings, endpoints: Endpoints, *, force: bool = False
) -> RebuildReport:
    """Rebuild the read model from offset 0 and swap it in; returns once swapped.

    Raises LogIncomplete, leaving the live tables as they were, when the log cannot
    reproduce them (unless ``force``).
    """
    started = time.monotonic()
    conn = await connect(endpoints.database_url)
    lock_key = rebuild_group(settings)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock_key):
            raise RebuildRunning("another `vidpipe projector rebuild` is running")
        await _fresh_tables(conn, lock_key)
        try:
            projector = await _replay(settings, endpoints, conn, force=force)
        except LogIncomplete:
            await _discard(conn, lock_key)
            raise
        jobs = await conn.fetchval(f"SELECT count(*) FROM {REBUILD_TABLES.jobs}")  # noqa: S608
        await swap(conn, settings.group(GROUP), lock_key)
        return RebuildReport(projector.batches, jobs, time.monotonic() - started)
    finally:
        await conn.close()  # also releases the session advisory lock


async def _fresh_tables(conn: asyncpg.Connection, rebuild_key: str) -> None:
    async with conn.transaction():
        # Leftovers of a rebuild that died half-way: start over.
        await conn.execute(f"DROP TABLE IF EXISTS {REBUILD_TABLES.history}, {REBUILD_TABLES.jobs}")
        await conn.execute("DELETE FROM projector_offsets WHERE consumer_group=$1", rebuild_key)
        for statement in fresh_table_ddl():
            await conn.execute(statement)


async def _discard(conn: asyncpg.Connection, rebuild_key: str) -> None:
    async with conn.transaction():
        await conn.execute(f"DROP TABLE IF EXISTS {REBUILD_TABLES.history}, {REBUILD_TABLES.jobs}")
        await conn.execute("DELETE FROM projector_offsets WHERE consumer_group=$1", rebuild_key)


async def _missing_jobs(conn: asyncpg.Connection) -> int:
    """Jobs of the live table that the replay has not produced."""
    live, fresh = LIVE_TABLES.jobs, REBUILD_TABLES.jobs
    return int(
        await conn.fetchval(
            f"SELECT count(*) FROM {live} l "  # noqa: S608 - our own table names
            f"WHERE NOT EXISTS (SELECT 1 FROM {fresh} r WHERE r.id = l.id)"
        )
    )


async def _check_log_start(consumer: AIOKafkaConsumer, jobs: list[TopicPartition]) -> None:
    """LogIncomplete when records of ``video.jobs`` were removed (retention, delete-records)."""
    starts = await consumer.beginning_offsets(jobs)
    late = sorted((tp.partition, offset) for tp, offset in starts.items() if offset > 0)
    if late:
        where = ", ".join(f"partition {p} starts at offset {o}" for p, o in late[:5])
        raise LogIncomplete(
            f"the log cannot reproduce the read model: {jobs[0].topic} lost its first "
            f"records ({where}); the tables are untouched (--force rebuilds anyway)"
        )


async def _replay(
    settings: Settings, endpoints: Endpoints, conn: asyncpg.Connection, *, force: bool
) -> Projector:
    consumer = AIOKafkaConsumer(
        **client_options(endpoints.kafka_security),
        bootstrap_servers=endpoints.kafka_bootstrap_servers,
        group_id=None,  # assigned by hand: a rebuild must not join the live group
        enable_auto_commit=False,
        **CONSUMER_OPTIONS,
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, settings)
        if not force:
            jobs_topic = settings.topic(JOBS.name)
            await _check_log_start(consumer, [tp for tp in partitions if tp.topic == jobs_topic])
        consumer.assign(partitions)
        store = ReadModelStore(conn, REBUILD_TABLES, rebuild_group(settings))
        await store.prepare()
        # Dead letters were sent when the live projector first met those records.
        projector = Projector(consumer, store, dead_letters=None)
        await projector.seek_to_stored(partitions)
        for _ in range(2):  # a second pass shrinks what the live projector re-applies
            await _catch_up(consumer, projector, partitions)
        for _ in range(EXTRA_PASSES):
            if force or not await _missing_jobs(conn):
                return projector
            await _catch_up(consumer, projector, partitions)
        if missing := await _missing_jobs(conn):
            live = await conn.fetchval(f"SELECT count(*) FROM {LIVE_TABLES.jobs}")  # noqa: S608
            raise LogIncomplete(
                f"the log cannot reproduce the read model: it holds "
                f"{int(live) - missing} of the {live} jobs in the table; the tables are "
                "untouched (--force rebuilds anyway)"
            )
        return projector
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, settings: Settings) -> list[TopicPartition]:
    await consumer._client.force_metadata_update()
    found = []
    for name in (JOBS.name, PROGRESS.name):
        topic = settings.topic(name)
        found += [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
    if not found:
        raise RuntimeError(f"topics {settings.topic(JOBS.name)} do not exist")
    return found


async def _catch_up(
    consumer: AIOKafkaConsumer, projector: Projector, partitions: Sequence[TopicPartition]
) -> None:
    target = await consumer.end_offsets(list(partitions))
    while True:
        positions = {tp: await consumer.position(tp) for tp in partitions}
        if all(positions[tp] >= target[tp] for tp in partitions):
            return
        batch = await consumer.getmany(timeout_ms=500, max_records=BATCH_RECORDS)
        await projector.handle(batch)


async def swap(conn: asyncpg.Connection, live_group: str, rebuild_key: str) -> None:
    """Put the rebuilt tables in place of the live ones in one transaction."""
    live, fresh = LIVE_TABLES, REBUILD_TABLES
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '30s'")
        # Same order as a live batch commit (advisory lock, then tables): no deadlock.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", live_group)
        await conn.execute(f"LOCK TABLE {live.jobs}, {live.history} IN ACCESS EXCLUSIVE MODE")
        await conn.execute("DELETE FROM projector_offsets WHERE consumer_group=$1", live_group)
        await conn.execute(
            "UPDATE projector_offsets SET consumer_group=$1, updated_at=now() "
            "WHERE consumer_group=$2",
            live_group,
            rebuild_key,
        )
        await conn.execute(f"DROP TABLE {live.history}, {live.jobs}")
        await conn.execute(f"ALTER TABLE {fresh.jobs} RENAME TO {live.jobs}")
        await conn.execute(f"ALTER TABLE {fresh.history} RENAME TO {live.history}")
        await _canonical_names(conn)
        await conn.execute("SELECT pg_notify($1, $2)", APPLIED_CHANNEL, live_group)
    log.info("rebuilt read model swapped in")


async def _canonical_names(conn: asyncpg.Connection) -> None:
    """``jobs_rebuild_pkey`` -> ``jobs_pkey`` etc., so migrations find the names they expect."""

    def canonical(name: str) -> str:
        return name.replace(REBUILD_TABLES.history, LIVE_TABLES.history).replace(
            REBUILD_TABLES.jobs, LIVE_TABLES.jobs
        )

    constraints = await conn.fetch(
        "SELECT conname, conrelid::regclass::text AS tab FROM pg_constraint "
        "WHERE conrelid = ANY($1::regclass[]) AND conname LIKE '%rebuild%'",
        [LIVE_TABLES.jobs, LIVE_TABLES.history],
    )
    for row in constraints:
        await conn.execute(
            f'ALTER TABLE {row["tab"]} RENAME CONSTRAINT "{row["conname"]}" '
            f'TO "{canonical(row["conname"])}"'
        )
    indexes = await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = ANY($1::text[]) AND indexname LIKE '%rebuild%'",
        [LIVE_TABLES.jobs, LIVE_TABLES.history],
    )
    for row in indexes:
        await conn.execute(
            f'ALTER INDEX "{row["indexname"]}" RENAME TO "{canonical(row["indexname"])}"'
        )
