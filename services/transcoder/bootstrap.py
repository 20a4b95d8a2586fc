"""The transcoder's composition root: its clients, the pool, both consumers and the ops server made
in one place and order and closed in reverse; ``Transcoder`` runs the poll loop and the shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer

from schemas.groups import TRANSCODER
from schemas.topics import CHUNKS, JOBS
from services.core.http.ops import serve_ops
from services.core.kafka.clients import (
    EventPublisher,
    KafkaEventPublisher,
    ensure_topics,
    make_consumer,
    wait_for_broker,
)
from services.core.runtime.clock import Clock, system_clock
from services.core.runtime.settings import Settings, resolve_ffmpeg
from services.core.stack.discovery import resolve
from services.core.storage import ObjectStore, open_store
from services.transcoder.attempt.model import RetryPolicy
from services.transcoder.attempt.pipeline import Pipeline
from services.transcoder.consume.consumer import JobsConsumer
from services.transcoder.consume.pool import JobPool
from services.transcoder.consume.stops import assign_all_from_end, tail_stops
from services.transcoder.encode.runner import FfmpegLimits
from services.transcoder.metrics import SINCE_PROGRESS, WORKERS
from services.transcoder.settings import TranscoderConfig
from services.transcoder.split.planning import SplitSettings

log = logging.getLogger(__name__)


def process_id() -> str:
    """``host:pid``: the worker id of this process (slots append ``/N``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Dependencies:
    """What a running transcoder process is made of, open while ``bootstrap`` runs."""

    store: ObjectStore
    publisher: EventPublisher
    group: AIOKafkaConsumer
    """The ``transcoder`` group's consumer of ``video.jobs`` and ``video.chunks``."""
    tail: AIOKafkaConsumer
    """The group-less reader of cancels and deletes (``consume/stops.py``)."""
    jobs: JobsConsumer
    ops_port: int


@contextlib.asynccontextmanager
async def bootstrap(
    settings: Settings,
    config: TranscoderConfig,
    process_id: str,
    *,
    publisher: EventPublisher | None = None,
    clock: Clock = system_clock,
) -> AsyncIterator[Dependencies]:
    """Open every client in one order (each closed in reverse when the body ends), join the
    group, start the stops reader and the watchdog. Cancelled while starting, it closes what
    it had opened."""
    if settings.kafka_bootstrap_servers:  # no database needed, unlike ``resolve``
        servers, security = settings.kafka_bootstrap_servers, settings.kafka_security()
    else:
        found = resolve(settings)
        servers, security = found.kafka_bootstrap_servers, found.kafka_security
    await wait_for_broker(servers, security=security)
    await ensure_topics(servers, topic_prefix=settings.topic_prefix, security=security)
    topic = settings.topic(JOBS.name)
    chunk_topic = settings.topic(CHUNKS.name)
    async with contextlib.AsyncExitStack() as stack:
        store = open_store(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
        stack.callback(store.close)
        if publisher is None:
            kafka = KafkaEventPublisher(
                servers,
                topic_prefix=settings.topic_prefix,
                client_id=process_id,
                security=security,
            )
            stack.push_async_callback(kafka.stop)
            await kafka.start()
            publisher = kafka
        group = make_consumer(
            servers,
            group_id=settings.group(TRANSCODER.name),
            client_id=process_id,
            session_timeout_ms=config.session_timeout_ms,
            security=security,
            rebalance_timeout_ms=int((config.rebalance_grace_s + 20) * 1000),
        )
        stack.push_async_callback(group.stop)
        tail = make_consumer(
            servers, group_id=None, client_id=f"{process_id}-stops", security=security
        )
        stack.push_async_callback(tail.stop)
        jobs = JobsConsumer(
            group,
            JobPool,
            pipeline(settings, config, process_id, store, publisher, clock),
            capacity=settings.worker_count,
            rebalance_grace_s=config.rebalance_grace_s,
            chunk_topic=chunk_topic,
            buffer=settings.fetch_buffer,
        )
        stack.push_async_callback(lambda: jobs.pool.release(list(jobs.views), 0))
        WORKERS.set(settings.worker_count)

        async def health() -> dict[str, Any]:
            return health_of(process_id, jobs)

        ops = await serve_ops(
            settings.host, settings.ops_port, health, report_to=settings.port_report
        )
        stack.push_async_callback(ops.stop)
        await tail.start()
        await assign_all_from_end(tail, topic)
        group.subscribe([topic, chunk_topic], listener=jobs)
        await group.start()
        log.info("transcoder %s ready; ops on port %d", process_id, ops.port)
        for task in (
            asyncio.create_task(
                tail_stops(tail, jobs.pool, jobs.pipeline.chunk_board), name="stops"
            ),
            asyncio.create_task(watchdog(jobs, config.stall_timeout_s), name="watchdog"),
        ):
            stack.push_async_callback(_cancelled, task)
        yield Dependencies(store, publisher, group, tail, jobs, ops.port)


def health_of(process_id: str, jobs: JobsConsumer | None) -> dict[str, Any]:
    """``/health``: ok once consuming, with what runs here."""
    return {
        "status": "ok" if jobs is not None else "starting",
        "worker_id": process_id,
        "in_flight": jobs.pool.running if jobs else 0,
        "partitions": sorted(tp.partition for tp in jobs.views) if jobs else [],
    }


def pipeline(
    settings: Settings,
    config: TranscoderConfig,
    process_id: str,
    store: ObjectStore,
    publisher: EventPublisher,
    clock: Clock = system_clock,
) -> Pipeline:
    """The attempt runner of this process, from the settings."""
    return Pipeline(
        store,
        publisher,
        resolve_ffmpeg(settings.ffmpeg_path),
        RetryPolicy(config.max_attempts, config.retry_base_delay_s),
        stall_timeout_s=config.stall_timeout_s,
        process_id=process_id,
        ffmpeg_limits=FfmpegLimits(
            settings.ffmpeg_threads,
            settings.ffmpeg_memory,
            settings.ffmpeg_cpu_seconds,
            time_factor=settings.ffmpeg_time_factor,
            time_floor_s=settings.ffmpeg_time_floor_s,
            max_output_bytes=settings.ffmpeg_max_output,
        ),
        media_limits=settings.media_limits,
        split_settings=SplitSettings(
            chunk_duration_s=settings.chunk_duration_s,
            min_duration_s=settings.split_min_duration_s,
            chunks_in_flight=settings.chunks_in_flight,
        ),
        clock=clock,
    )


async def watchdog(jobs: JobsConsumer, stall_s: float) -> None:
    """Fail (retryably) running jobs whose progress has not moved for ``stall_s`` seconds."""
    while True:
        await asyncio.sleep(min(max(stall_s / 4, 0.05), 5.0))
        SINCE_PROGRESS.set(max(jobs.pool.without_progress().values(), default=0.0))
        for job_id in jobs.pool.stalled(stall_s):
            log.warning("no progress for %.1fs: failing", stall_s, extra={"job_id": job_id})
            jobs.pool.stop(job_id, "stalled")


class Transcoder:
    """One worker process of the ``transcoder`` group: the poll loop over ``bootstrap``."""

    def __init__(self, settings: Settings, config: TranscoderConfig) -> None:
        self.settings = settings
        self.config = config
        self.process_id = process_id()
        self.ops_port: int | None = None
        self.consuming = False  # True once started: then SIGTERM is a graceful stop
        self._jobs: JobsConsumer | None = None

    async def serve(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then a graceful shutdown within the grace period.

        Cancelled while starting (``consuming`` still False), it closes what it had opened.
        """
        async with bootstrap(self.settings, self.config, self.process_id) as deps:
            self.ops_port = deps.ops_port
            self._jobs = deps.jobs
            self.consuming = True
            while not stop.is_set():
                await deps.jobs.poll_once()
            await deps.jobs.shutdown(self.config.grace_period_s)

    async def health(self) -> dict[str, Any]:
        """What ``/health`` says of this worker (``starting`` until it consumes)."""
        return health_of(self.process_id, self._jobs)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
