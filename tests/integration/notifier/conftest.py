"""Fixtures for the notifier tests: instances on loopback ports, a publisher, tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from schemas.envelope import new_envelope
from schemas.events import Event
from services.core.config import Settings
from services.core.kafka import KafkaEventPublisher
from services.core.tokens import Role, issue_access_token
from services.notifier.config import NotifierConfig
from tests.conftest import Infra
from tests.integration.notifier.harness import RunningNotifier, start_notifier

StartNotifier = Callable[..., Awaitable[RunningNotifier]]
Publish = Callable[..., Awaitable[None]]


@pytest.fixture
async def notifiers(settings: Settings) -> AsyncIterator[StartNotifier]:
    """Start as many notifier instances as a test needs; all stop at teardown."""
    running: list[RunningNotifier] = []

    async def start(config: NotifierConfig | None = None, **options: object) -> RunningNotifier:
        instance = await start_notifier(settings, config, **options)  # type: ignore[arg-type]
        running.append(instance)
        return instance

    yield start
    for instance in running:
        await instance.stop()


@pytest.fixture
async def publish(infra: Infra, topic_prefix: str) -> AsyncIterator[Publish]:
    """Produce events to this test's topics, in order, each acknowledged before the next."""
    publisher = KafkaEventPublisher(infra.bootstrap_servers, topic_prefix=topic_prefix)
    await publisher.start()

    async def publish(*events: Event) -> None:
        for event in events:
            await publisher.publish(new_envelope(event, source="/tests/notifier"))

    yield publish
    await publisher.stop()


@pytest.fixture
def token(test_env: dict[str, str]) -> Callable[..., str]:
    def mint(user_id: str, role: Role = "user", ttl_s: int = 600) -> str:
        return issue_access_token(test_env["JWT_SECRET"], user_id, role, ttl_s)

    return mint


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=30.0)) as client:
        yield client
