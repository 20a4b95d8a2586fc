"""Wiring of one transcoder process: clients, the pool, both consumers, ops server, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

from schemas.groups import TRANSCODER
from schemas.topics import CHUNKS, JOBS
from services.core.http.ops import serve_ops
from services.core.kafka.clients import (
    KafkaEventPublisher,
    ensure_topics,
    make_consumer,
    wait_for_broker,
)
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


class Transcoder:
    """One worker process of the ``transcoder`` group."""

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
        settings = self.settings
        bootstrap = settings.kafka_bootstrap_servers or resolve(settings).kafka_bootstrap_servers
        await wait_for_broker(bootstrap)
        await ensure_topics(bootstrap, topic_prefix=settings.topic_prefix)
        async with contextlib.AsyncExitStack() as stack:
            jobs = await self._start(stack, bootstrap)
            self.consuming = True
            while not stop.is_set():
                await jobs.poll_once()
            await jobs.shutdown(self.config.grace_period_s)

    async def _start(self, stack: contextlib.AsyncExitStack, bootstrap: str) -> JobsConsumer:
        """Open every client (each closed by ``stack``), join the group; the jobs consumer."""
        settings, config = self.settings, self.config
        topic = settings.topic(JOBS.name)
        chunk_topic = settings.topic(CHUNKS.name)
        store = open_store(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
        stack.callback(store.close)
        publisher = KafkaEventPublisher(
            bootstrap, topic_prefix=settings.topic_prefix, client_id=self.process_id
        )
        stack.push_async_callback(publisher.stop)
        group = make_consumer(
            bootstrap,
            group_id=settings.group(TRANSCODER.name),
            client_id=self.process_id,
            session_timeout_ms=config.session_timeout_ms,
            rebalance_timeout_ms=int((config.rebalance_grace_s + 20) * 1000),
        )
        stack.push_async_callback(group.stop)
        tail = make_consumer(bootstrap, group_id=None, client_id=f"{self.process_id}-stops")
        stack.push_async_callback(tail.stop)
        jobs = self._jobs = JobsConsumer(
            group,
            JobPool,
            self._pipeline(store, publisher),
            capacity=settings.worker_count,
            rebalance_grace_s=config.rebalance_grace_s,
            chunk_topic=chunk_topic,
            buffer=settings.fetch_buffer,
        )
        stack.push_async_callback(lambda: jobs.pool.release(list(jobs.views), 0))
        WORKERS.set(settings.worker_count)
        await publisher.start()
        ops = await serve_ops(
            settings.host, settings.ops_port, self.health, report_to=settings.port_report
        )
        stack.push_async_callback(ops.stop)
        self.ops_port = ops.port
        await tail.start()
        await assign_all_from_end(tail, topic)
        group.subscribe([topic, chunk_topic], listener=jobs)
        await group.start()
        log.info("transcoder %s ready; ops on port %d", self.process_id, ops.port)
        for task in (
            asyncio.create_task(
                tail_stops(tail, jobs.pool, jobs.pipeline.chunk_board), name="stops"
            ),
            asyncio.create_task(self._watchdog(jobs), name="watchdog"),
        ):
            stack.push_async_callback(_cancelled, task)
        return jobs

    def _pipeline(self, store: ObjectStore, publisher: KafkaEventPublisher) -> Pipeline:
        config = self.config
        return Pipeline(
            store,
            publisher,
            resolve_ffmpeg(self.settings.ffmpeg_path),
            RetryPolicy(config.max_attempts, config.retry_base_delay_s),
            stall_timeout_s=config.stall_timeout_s,
            process_id=self.process_id,
            ffmpeg_limits=FfmpegLimits(
                self.settings.ffmpeg_threads,
                self.settings.ffmpeg_memory,
                self.settings.ffmpeg_cpu_seconds,
            ),
            media_limits=self.settings.media_limits,
            split_settings=SplitSettings(
                chunk_duration_s=self.settings.chunk_duration_s,
                min_duration_s=self.settings.split_min_duration_s,
                chunks_in_flight=self.settings.chunks_in_flight,
            ),
        )

    async def _watchdog(self, jobs: JobsConsumer) -> None:
        """Fail (retryably) running jobs whose progress has not moved for the stall timeout."""
        timeout = self.config.stall_timeout_s
        while True:
            await asyncio.sleep(min(max(timeout / 4, 0.05), 5.0))
            SINCE_PROGRESS.set(max(jobs.pool.without_progress().values(), default=0.0))
            for job_id in jobs.pool.stalled(timeout):
                log.warning("no progress for %.1fs: failing", timeout, extra={"job_id": job_id})
                jobs.pool.stop(job_id, "stalled")

    async def health(self) -> dict[str, Any]:
        """``/health``: ok once consuming, with what runs here."""
        jobs = self._jobs
        return {
            "status": "ok" if jobs is not None else "starting",
            "worker_id": self.process_id,
            "in_flight": jobs.pool.running if jobs else 0,
            "partitions": sorted(tp.partition for tp in jobs.views) if jobs else [],
        }


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
