"""Ingest's composition root: every client of the process made in one place and order, and
closed in the reverse order. The app's lifespan enters it; tests may hand in their own publisher
and clock (``tests/support/fakes.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from schemas.groups import PROJECTOR
from schemas.topics import JOBS
from services.core.access.disabled import DisabledAccounts
from services.core.db.engine import create_engine
from services.core.kafka.clients import EventPublisher, KafkaEventPublisher
from services.core.runtime.clock import Clock, system_clock
from services.core.runtime.settings import Settings
from services.core.stack.discovery import resolve
from services.core.storage import open_partial_uploads, open_store
from services.ingest.adapters.accounts import Accounts
from services.ingest.adapters.applied import AppliedWaiter
from services.ingest.adapters.broker_offsets import BrokerOffsets
from services.ingest.adapters.job_log import JobLog
from services.ingest.adapters.lockout import LoginLockout
from services.ingest.adapters.media_urls import MediaUrls, derive_key
from services.ingest.adapters.probe_pool import ProbePool, ProbeResources
from services.ingest.adapters.resumable import ResumableUploads
from services.ingest.adapters.storage_sweep import OrphanSweep
from services.ingest.adapters.upload_records import UploadRecords
from services.ingest.dependencies import Dependencies
from services.ingest.http.ratelimit import RateLimiter

LIMITS_SWEEP_S = 300.0
log = logging.getLogger(__name__)


async def every(interval_s: float, step: Callable[[], Awaitable[object]], what: str) -> None:
    """Run ``step`` every ``interval_s`` seconds until cancelled. A failed round is logged and
    the next one retries: a sweep must not die while PostgreSQL or the store is away."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await step()
        except Exception:
            log.exception("%s failed; the next round retries", what)


@contextlib.asynccontextmanager
async def bootstrap(
    settings: Settings,
    limiter: RateLimiter,
    *,
    publisher: EventPublisher | None = None,
    clock: Clock = system_clock,
) -> AsyncIterator[Dependencies]:
    """The ingest process's dependencies, open for the body of the ``async with``.

    ``limiter`` comes from the caller because the middleware, built before the lifespan runs,
    counts requests with the same one.
    """
    endpoints = resolve(settings)
    engine = create_engine(endpoints.database_url)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        if publisher is None:
            kafka = KafkaEventPublisher(
                endpoints.kafka_bootstrap_servers,
                topic_prefix=settings.topic_prefix,
                client_id="ingest",
                security=endpoints.kafka_security,
            )
            await kafka.start()
            stack.push_async_callback(kafka.stop)
            publisher = kafka
        store = open_store(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
        stack.callback(store.close)
        partials = open_partial_uploads(
            settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url
        )
        stack.callback(partials.close)
        applied = AppliedWaiter(engine, endpoints.database_url, settings.group(PROJECTOR.name))
        await applied.start()
        stack.push_async_callback(applied.stop)
        broker_offsets = BrokerOffsets(
            endpoints.kafka_bootstrap_servers, security=endpoints.kafka_security
        )
        stack.push_async_callback(broker_offsets.close)
        await limiter.open(endpoints.database_url)
        stack.push_async_callback(limiter.close)
        disabled = DisabledAccounts(engine)
        await disabled.start()
        stack.push_async_callback(disabled.stop)
        resumable = ResumableUploads(settings, UploadRecords(engine), partials, store, clock)
        prober = ProbePool(
            ProbeResources(
                settings.probe_concurrency, settings.probe_memory, settings.probe_cpu_seconds
            )
        )
        await prober.start()
        stack.push_async_callback(prober.close)
        secret = settings.secret()
        dependencies = Dependencies(
            settings=settings,
            secret=secret,
            engine=engine,
            accounts=Accounts(engine),
            job_log=JobLog(
                publisher, applied, settings.topic(JOBS.name), settings.read_your_writes_s
            ),
            store=store,
            limiter=limiter,
            access_ttl_s=settings.access_token_ttl_s,
            media=MediaUrls(derive_key(secret), settings.media_url_ttl_s),
            lockout=LoginLockout(
                engine,
                settings.login_max_failures,
                settings.login_lockout_s,
                settings.login_lockout_max_s,
            ),
            resumable=resumable,
            prober=prober,
            broker_offsets=broker_offsets,
            disabled=disabled,
            clock=clock,
        )
        orphans = OrphanSweep(store, engine, settings.storage_sweep_grace_s)
        sweeps: list[tuple[float, Callable[[], Awaitable[object]], str]] = [
            (settings.upload_sweep_interval_s, resumable.sweep, "the expired-upload sweep"),
            (settings.storage_sweep_interval_s, orphans.sweep, "the orphan sweep"),
            # idle rate-limit buckets and forgotten login failures
            (LIMITS_SWEEP_S, limiter.sweep, "the rate-limit sweep"),
            (LIMITS_SWEEP_S, dependencies.lockout.sweep, "the login-failure sweep"),
        ]
        for interval_s, step, what in sweeps:
            stack.callback(asyncio.create_task(every(interval_s, step, what)).cancel)
        yield dependencies
