"""Drive and inspect the projector: publish and catch up, offsets, read-model checksums; the
fixtures ``publish_envelopes``, ``running_projector`` (in-process) and ``catch_up``."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.envelope import Envelope
from services.core.db.engine import plain_url
from services.core.kafka.clients import KafkaEventPublisher
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints
from services.projector.bootstrap import run_projector
from tests.support.eventually import eventually
from tests.support.infra import Infra

PublishEnvelopes = Callable[[list[Envelope]], Awaitable[None]]
"""``await publish_envelopes(envelopes)``: produce them in order, in chunks."""
Running = Callable[[], AbstractAsyncContextManager[None]]
"""``async with running_projector():`` the live projector runs in-process until the block ends."""
CatchUp = Callable[[], Awaitable[None]]
"""``await catch_up()``: until the projector's stored offsets reach the topics' current ends."""


async def end_offsets(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or [])
        ]
        ends = await consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def caught_up(db_url: str, group: str, ends: dict[tuple[str, int], int]) -> bool:
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        rows = await conn.fetch(
            "SELECT topic, partition, next_offset FROM projector_offsets WHERE consumer_group=$1",
            group,
        )
    finally:
        await conn.close()
    stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
    return all(stored.get(k, 0) >= v for k, v in ends.items() if v > 0)


async def checksums(db_url: str) -> dict[str, str]:
    """md5 of every row of the read model, in a fixed order: equal sums, equal tables."""
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        return {
            "jobs": await conn.fetchval(
                "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM jobs t"
            ),
            "history": await conn.fetchval(
                "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.event_id), '')) "
                "FROM processing_history t"
            ),
            "count": str(await conn.fetchval("SELECT count(*) FROM jobs")),
        }
    finally:
        await conn.close()


async def fetch_jobs(db_url: str) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        return {str(r["id"]): dict(r) for r in await conn.fetch("SELECT * FROM jobs")}
    finally:
        await conn.close()


async def projector_process(env: dict[str, str]) -> asyncio.subprocess.Process:
    """A ``vidpipe projector`` process (a member of the group) on the test's infrastructure."""
    full = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    full.update(env, OPS_PORT="0")
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "projector",
        env=full,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def applied_total(db_url: str) -> int:
    """The sum of the stored next offsets: how many records the projector has applied."""
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        return int(
            await conn.fetchval("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets")
        )
    finally:
        await conn.close()


def chunks(items: list[Envelope], size: int) -> Iterator[list[Envelope]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@pytest.fixture
def endpoints(infra: Infra, db_url: str) -> Endpoints:
    return Endpoints(database_url=db_url, kafka_bootstrap_servers=infra.bootstrap_servers)


@pytest.fixture
async def publish_envelopes(infra: Infra, topic_prefix: str) -> AsyncIterator[PublishEnvelopes]:
    """Produce envelopes to this test's topics, in order, in chunks of 2000."""
    publisher = KafkaEventPublisher(infra.bootstrap_servers, topic_prefix=topic_prefix)
    await publisher.start()

    async def send(envelopes: list[Envelope]) -> None:
        for chunk in chunks(envelopes, 2000):
            await publisher.publish_many(chunk)

    yield send
    await publisher.stop()


@pytest.fixture
def running_projector(settings: Settings, endpoints: Endpoints) -> Running:
    """``async with running_projector():`` runs the live projector, stopping it on exit."""

    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        started = asyncio.Event()
        task = asyncio.create_task(
            run_projector(settings, endpoints, started=started, session_timeout_ms=1500)
        )
        try:
            await eventually(lambda: _started(started, task), timeout=30, message="projector start")
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return running


async def _started(event: asyncio.Event, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # surface the crash
    return event.is_set()


@pytest.fixture
def catch_up(settings: Settings, endpoints: Endpoints) -> CatchUp:
    """Wait until the projector's stored offsets reach the current end of its topics."""

    async def wait() -> None:
        topics = [settings.topic("video.jobs"), settings.topic("video.progress")]
        ends = await end_offsets(endpoints.kafka_bootstrap_servers, topics)
        group = settings.group("projector")
        await eventually(
            lambda: caught_up(endpoints.database_url, group, ends), timeout=60, message="catch-up"
        )

    return wait
