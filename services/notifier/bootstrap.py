"""The notifier's composition root: its clients made in one place and order, and closed in the
reverse order. The app's lifespan enters it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from schemas.topics import JOBS, PROGRESS
from services.core.access.disabled import DisabledAccounts
from services.core.db.engine import create_engine
from services.core.runtime.settings import Settings
from services.core.stack.discovery import resolve
from services.notifier.admission import Admission, StreamCounts
from services.notifier.dependencies import Dependencies
from services.notifier.hub import Hub
from services.notifier.queries import ReadModel
from services.notifier.resume import LogReader
from services.notifier.settings import NotifierConfig


@contextlib.asynccontextmanager
async def bootstrap(settings: Settings, config: NotifierConfig) -> AsyncIterator[Dependencies]:
    """The notifier process's dependencies, open (the hub consuming) for the ``async with``."""
    endpoints = resolve(settings)
    engine = create_engine(endpoints.database_url, pool_size=5)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        reads = ReadModel(engine, snapshot_limit=config.snapshot_limit)
        topics = (settings.topic(JOBS.name), settings.topic(PROGRESS.name))
        disabled = DisabledAccounts(engine)
        await disabled.start()
        stack.push_async_callback(disabled.stop)
        hub = Hub(
            endpoints.kafka_bootstrap_servers,
            topics,
            reads,
            ring_size=config.ring_size,
            queue_size=config.queue_size,
            heartbeat_s=config.heartbeat_s,
            seed_s=config.seed_s,
            disabled=disabled,
            security=endpoints.kafka_security,
        )
        stack.push_async_callback(hub.stop)
        await hub.start()
        log_reader = LogReader(
            endpoints.kafka_bootstrap_servers,
            config.replay_timeout_s,
            security=endpoints.kafka_security,
        )
        stack.push_async_callback(log_reader.stop)
        admission = Admission(config.max_opening, config.max_waiting, config.admission_wait_s)
        yield Dependencies(
            hub,
            reads,
            config,
            log_reader,
            admission,
            topics,
            disabled,
            replays=Admission(config.max_replays, config.max_waiting, config.admission_wait_s),
            per_user=StreamCounts(config.max_streams_per_user),
            per_address=StreamCounts(config.max_streams_per_address),
        )
