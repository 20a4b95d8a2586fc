"""Fixtures: publish a recorded stream, run the projector in-process until caught up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from schemas.envelope import Envelope
from services.core.config import Settings
from services.core.endpoints import Endpoints
from services.core.kafka import KafkaEventPublisher
from services.projector.service import run_projector
from tests.conftest import Infra
from tests.integration.projector.stream import caught_up, chunks, end_offsets, wait_for

Publish = Callable[[list[Envelope]], Awaitable[None]]
Running = Callable[[], AbstractAsyncContextManager[None]]
CatchUp = Callable[[], Awaitable[None]]


@pytest.fixture
def endpoints(infra: Infra, db_url: str) -> Endpoints:
    return Endpoints(database_url=db_url, kafka_bootstrap_servers=infra.bootstrap_servers)


@pytest.fixture
async def publish(infra: Infra, topic_prefix: str) -> AsyncIterator[Publish]:
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
            await wait_for(lambda: _started(started, task), 30, "projector start")
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
        await wait_for(lambda: caught_up(endpoints.database_url, group, ends), 60, "catch-up")

    return wait
