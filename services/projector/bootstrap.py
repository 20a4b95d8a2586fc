"""The projector's composition root: its clients made in one place and order, closed in reverse."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer

from schemas.envelope import KafkaRecord
from schemas.groups import PROJECTOR
from schemas.topics import JOBS, PROGRESS
from services.core.db.engine import plain_url
from services.core.kafka.clients import KafkaEventPublisher, make_consumer
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints
from services.projector.consumer import Projector, SeekToStoredOffsets
from services.projector.postgres import LIVE_TABLES, ReadModelStore, ReadModelTables

log = logging.getLogger(__name__)

GROUP = PROJECTOR.name
BATCH_RECORDS = 20000
"""Records per batch: large batches amortise the transaction (the bench measures this)."""

CONSUMER_OPTIONS: dict[str, int] = {
    "max_poll_records": BATCH_RECORDS,
    "max_partition_fetch_bytes": 4 * 1024 * 1024,
    "fetch_max_bytes": 64 * 1024 * 1024,
}


_GC_USERS = 0
_GC_SAVED = gc.get_threshold()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often while a projector runs (process-wide, restored at the end).

    Batches keep some 10^5 young objects alive at a time (they die by reference counting
    once committed); with the default thresholds the collector rescans them and the whole
    heap over and over, about a quarter of the projector's CPU in the bench. A collection
    now waits for 10^6 surviving new objects (cyclic garbage can grow that far, ~100 MB),
    and the heap built at start-up is frozen (never garbage)."""
    global _GC_USERS, _GC_SAVED
    if _GC_USERS == 0:
        _GC_SAVED = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(1_000_000, 20, 100)
    _GC_USERS += 1
    try:
        yield
    finally:
        _GC_USERS -= 1
        if _GC_USERS == 0:
            gc.set_threshold(*_GC_SAVED)
            gc.unfreeze()


async def connect(database_url: str) -> asyncpg.Connection:
    """The projector's one connection: a batch is one transaction, so one is enough."""
    return await asyncpg.connect(plain_url(database_url), command_timeout=120)


@dataclass(frozen=True)
class Dependencies:
    """What a running projector is made of, open for as long as ``bootstrap`` runs."""

    projector: Projector
    store: ReadModelStore
    consumer: AIOKafkaConsumer
    publisher: KafkaEventPublisher


@asynccontextmanager
async def bootstrap(
    settings: Settings,
    endpoints: Endpoints,
    *,
    tables: ReadModelTables = LIVE_TABLES,
    session_timeout_ms: int = 10000,
) -> AsyncIterator[Dependencies]:
    """The projector's clients, made in one order and closed in reverse; the consumer has
    joined the group (seeking to the stored offsets) when the body runs."""
    async with AsyncExitStack() as stack:
        conn = await connect(endpoints.database_url)
        stack.push_async_callback(conn.close)
        publisher = KafkaEventPublisher(
            endpoints.kafka_bootstrap_servers,
            topic_prefix=settings.topic_prefix,
            client_id=GROUP,
            security=endpoints.kafka_security,
        )
        stack.push_async_callback(publisher.stop)
        consumer = make_consumer(
            endpoints.kafka_bootstrap_servers,
            group_id=settings.group(GROUP),
            client_id=GROUP,
            session_timeout_ms=session_timeout_ms,
            security=endpoints.kafka_security,
            **CONSUMER_OPTIONS,
        )
        stack.push_async_callback(consumer.stop)

        async def send_dead_letters(records: Sequence[KafkaRecord]) -> None:
            await asyncio.gather(*(publisher.send_record(r) for r in records))

        store = ReadModelStore(conn, tables, settings.group(GROUP))
        projector = Projector(consumer, store, send_dead_letters)
        await store.prepare()
        await publisher.start()
        consumer.subscribe(
            [settings.topic(JOBS.name), settings.topic(PROGRESS.name)],
            listener=SeekToStoredOffsets(projector),
        )
        await consumer.start()
        yield Dependencies(projector, store, consumer, publisher)


async def run_projector(
    settings: Settings,
    endpoints: Endpoints,
    *,
    tables: ReadModelTables = LIVE_TABLES,
    started: asyncio.Event | None = None,
    session_timeout_ms: int = 10000,
) -> None:
    """Consume ``video.jobs`` and ``video.progress`` as the projector group until cancelled."""
    async with bootstrap(
        settings, endpoints, tables=tables, session_timeout_ms=session_timeout_ms
    ) as deps:
        log.info("projector consuming as group %s", settings.group(GROUP))
        if started is not None:
            started.set()
        with fewer_collections():
            await deps.projector.run(BATCH_RECORDS)
