"""Driving the transcoder in tests: a watcher that collects every event a job causes, a
submitter that stores a source and publishes ``submitted``, checks on the outputs, and the
fixtures ``store``, ``publisher``, ``watcher``, ``submit`` and ``start_worker`` (in-process)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from schemas.envelope import DecodeError, Envelope, decode, new_envelope
from schemas.events import Event, JobCompleted, JobSubmitted
from services.core.domain.jobstate import IllegalTransition, JobState, apply
from services.core.kafka.clients import KafkaEventPublisher, make_consumer, topic_partitions
from services.core.runtime.settings import Settings
from services.core.storage import ObjectStore, keys, open_store
from services.transcoder.bootstrap import Transcoder, TranscoderConfig
from tests.support.infra import Infra


class Watcher:
    """Every event of ``video.jobs`` and ``video.progress`` since the test began, by job."""

    def __init__(self) -> None:
        self.events: dict[str, list[Envelope]] = defaultdict(list)
        self.changed = asyncio.Condition()

    def of(self, job_id: str, *types: str, topic: str | None = None) -> list[Envelope]:
        return [
            e
            for e in self.events[job_id]
            if (not types or e.type in types) and (topic is None or e.topic == topic)
        ]

    def types(self, job_id: str) -> list[str]:
        return [e.type.removeprefix("video.job.") for e in self.of(job_id, topic="jobs")]

    def summary(self, job_id: str) -> list[str]:
        """The job's lifecycle, with the reasons of failures and retries."""
        lines = []
        for e in self.of(job_id, topic="jobs"):
            detail = getattr(e.event, "message", None) or getattr(e.event, "reason", None)
            lines.append(e.type.removeprefix("video.job.") + (f"({detail})" if detail else ""))
        return [line for line in lines if line != "stage_completed"]

    async def wait(self, check: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Until ``check()`` is truthy; fail with the job histories after ``timeout``."""
        deadline = time.monotonic() + timeout
        async with self.changed:
            while not (result := check()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    history = {j: self.summary(j) for j in self.events}
                    raise AssertionError(f"condition not met in {timeout}s; events: {history}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), remaining)
        return result

    async def wait_type(self, job_id: str, type_: str, timeout: float = 30.0) -> Envelope:
        found: list[Envelope] = await self.wait(
            lambda: self.of(job_id, f"video.job.{type_}", topic="jobs"), timeout
        )
        return found[0]


@contextlib.asynccontextmanager
async def watch_log(bootstrap: str, prefix: str) -> AsyncIterator[Watcher]:
    """Every event of ``video.jobs`` and ``video.progress`` from offset 0, by job, as it comes."""
    watch = Watcher()
    consumer = make_consumer(bootstrap, group_id=None)
    await consumer.start()
    topics = {f"{prefix}video.jobs": "jobs", f"{prefix}video.progress": "progress"}
    parts = [tp for t in topics for tp in await topic_partitions(consumer, t)]
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)

    async def pump() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            if not batch:
                continue
            async with watch.changed:
                for tp, records in batch.items():
                    for r in records:
                        try:
                            env = decode(r.key, r.value, r.headers, partition=r.partition)
                        except DecodeError:
                            continue
                        env = dataclasses.replace(env, topic=topics[tp.topic])
                        watch.events[env.subject].append(env)
                watch.changed.notify_all()

    task = asyncio.create_task(pump())
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


@dataclasses.dataclass
class Submitter:
    store: ObjectStore
    publisher: KafkaEventPublisher

    async def __call__(
        self,
        source: Path,
        options: dict[str, Any] | None = None,
        job_id: str | None = None,
        *,
        user_id: str = "u1",
        priority: int = 0,
    ) -> str:
        job_id = job_id or str(uuid.uuid4())
        key = keys.source_key(job_id)
        stored = await self.store.put_file(key, source)
        await self.send(
            JobSubmitted(
                job_id=job_id,
                user_id=user_id,
                original_filename=source.name,
                source_key=key,
                source_size=stored.size_bytes,
                source_sha256=stored.sha256 or hashlib.sha256(source.read_bytes()).hexdigest(),
                processing_options=options or {},
                priority=priority,
            )
        )
        return job_id

    async def send(self, event: Event) -> None:
        await self.publisher.publish(
            new_envelope(event, source="/test", correlation_id=f"corr-{event.job_id}")
        )


StartWorker = Callable[..., Awaitable[Transcoder]]


def local(store: ObjectStore, key: str) -> str:
    """The file behind ``key`` in a local store (asserts it exists)."""
    path = store.local_path(key)
    assert path is not None and path.is_file(), key
    return str(path)


def effective_completions(watcher: Watcher, job_id: str) -> list[JobCompleted]:
    """``completed`` events the job state machine accepts, folding the log in order."""
    state: JobState | None = None
    accepted = []
    for envelope in watcher.of(job_id, topic="jobs"):
        try:
            state = apply(state, envelope.event)
        except IllegalTransition:
            continue
        if isinstance(envelope.event, JobCompleted):
            accepted.append(envelope.event)
    return accepted


@contextlib.contextmanager
def transcoder_processes(
    test_env: dict[str, str], count: int, flags: Sequence[str], **env_extra: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` real ``vidpipe transcoder`` processes on the test's slice (``OPS_PORT=0``,
    plus ``env_extra``); SIGTERM at the end, SIGKILL after 20 s."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(test_env, OPS_PORT="0", **env_extra)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "services.cli", "transcoder", *flags],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def store(settings: Settings) -> Iterator[ObjectStore]:
    """The object store of this test's slice (a local directory)."""
    opened = open_store(settings.storage_url)
    yield opened
    opened.close()


@pytest.fixture
async def publisher(infra: Infra, settings: Settings) -> AsyncIterator[KafkaEventPublisher]:
    producer = KafkaEventPublisher(infra.bootstrap_servers, topic_prefix=settings.topic_prefix)
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def watcher(infra: Infra, settings: Settings) -> AsyncIterator[Watcher]:
    """Every event of ``video.jobs`` and ``video.progress`` since the test began, by job."""
    async with watch_log(infra.bootstrap_servers, settings.topic_prefix) as watch:
        yield watch


@pytest.fixture
def submit(store: ObjectStore, publisher: KafkaEventPublisher) -> Submitter:
    """``await submit(source_path, options)``: store a source and publish ``submitted``."""
    return Submitter(store, publisher)


@pytest.fixture
async def start_worker(settings: Settings) -> AsyncIterator[StartWorker]:
    """``await start_worker(worker_count=2, **TranscoderConfig fields)``: an in-process worker."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(worker_count: int = 2, **config: Any) -> Transcoder:
        worker = Transcoder(
            dataclasses.replace(settings, worker_count=worker_count),
            TranscoderConfig(**{"grace_period_s": 5.0, "session_timeout_ms": 6000, **config}),
        )
        stop = asyncio.Event()
        running.append((stop, asyncio.create_task(worker.serve(stop))))
        return worker

    yield start
    for stop, _task in running:
        stop.set()
    for _stop, task in running:
        await asyncio.wait_for(task, 30)
