"""Fixtures of the transcoder tests: real clips from ffmpeg's lavfi sources, a running worker,
and a watcher that collects every event a job causes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from schemas.envelope import DecodeError, Envelope, decode, new_envelope
from schemas.events import Event, JobSubmitted
from services.core.config import Settings, resolve_ffmpeg
from services.core.kafka import KafkaEventPublisher, make_consumer
from services.core.storage import ObjectStore, open_store
from services.transcoder.service import Transcoder, TranscoderConfig
from tests.conftest import Infra


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [resolve_ffmpeg(None), "-nostdin", "-v", "error", "-y", *args], check=True, timeout=120
    )


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``clips(name, seconds=1, size="160x120", audio=True, rotate=0, vfr=False, codec="h264")``,
    made once per session with lavfi's testsrc2 and sine."""
    root = tmp_path_factory.mktemp("clips")
    made: dict[tuple[Any, ...], Path] = {}

    def make(
        seconds: float = 1.0,
        size: str = "160x120",
        audio: bool = True,
        rotate: int = 0,
        vfr: bool = False,
        codec: str = "h264",
        rate: int = 15,
    ) -> Path:
        key = (seconds, size, audio, rotate, vfr, codec, rate)
        if key in made:
            return made[key]
        ext = {"h264": "mp4", "mpeg4": "avi", "vp8": "webm"}[codec]
        path = root / f"clip{len(made)}.{ext}"
        args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
        if audio:
            args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
        if vfr:  # drop frames irregularly: timestamps stay, frame spacing varies
            args += ["-vf", "select='not(mod(n\\,3))+lt(n\\,4)'", "-fps_mode", "vfr"]
        video = {
            "h264": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"],
            "mpeg4": ["-c:v", "mpeg4", "-q:v", "5"],
            "vp8": ["-c:v", "libvpx", "-deadline", "realtime"],
        }[codec]
        audio_args = ["-c:a", "libopus" if codec == "vp8" else "aac"] if audio else ["-an"]
        ffmpeg(*args, *video, *audio_args, "-shortest", str(path))
        if rotate:
            rotated = root / f"clip{len(made)}r.{ext}"
            ffmpeg("-display_rotation", str(rotate), "-i", str(path), "-c", "copy", str(rotated))
            path = rotated
        made[key] = path
        return path

    return make


@pytest.fixture
def store(settings: Settings) -> Iterator[ObjectStore]:
    opened = open_store(settings.storage_url)
    yield opened
    opened.close()


@pytest.fixture
async def publisher(infra: Infra, settings: Settings) -> AsyncIterator[KafkaEventPublisher]:
    producer = KafkaEventPublisher(infra.bootstrap_servers, topic_prefix=settings.topic_prefix)
    await producer.start()
    yield producer
    await producer.stop()


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
    await consumer.topics()
    parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
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


@pytest.fixture
async def watcher(infra: Infra, settings: Settings) -> AsyncIterator[Watcher]:
    async with watch_log(infra.bootstrap_servers, settings.topic_prefix) as watch:
        yield watch


@dataclasses.dataclass
class Submitter:
    store: ObjectStore
    publisher: KafkaEventPublisher

    async def __call__(
        self, source: Path, options: dict[str, Any] | None = None, job_id: str | None = None
    ) -> str:
        job_id = job_id or str(uuid.uuid4())
        key = f"sources/{job_id}/source"
        stored = await self.store.put_file(key, source)
        await self.send(
            JobSubmitted(
                job_id=job_id,
                user_id="u1",
                original_filename=source.name,
                source_key=key,
                source_size=stored.size_bytes,
                source_sha256=stored.sha256 or hashlib.sha256(source.read_bytes()).hexdigest(),
                processing_options=options or {},
            )
        )
        return job_id

    async def send(self, event: Event) -> None:
        await self.publisher.publish(
            new_envelope(event, source="/test", correlation_id=f"corr-{event.job_id}")
        )


@pytest.fixture
def submit(store: ObjectStore, publisher: KafkaEventPublisher) -> Submitter:
    return Submitter(store, publisher)


StartWorker = Callable[..., Awaitable[Transcoder]]


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
