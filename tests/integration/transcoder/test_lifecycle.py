"""Progress, cancel (queued and running), retry after a killed ffmpeg, the watchdog, bad records."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psutil
from prometheus_client import REGISTRY

from schemas.events import CancelRequested, JobCancelled, JobFailed, RetryScheduled
from schemas.topics import JOBS, JOBS_DLQ
from services.core.storage import ObjectStore
from services.core.storage.keys import output_prefix
from tests.support.eventually import eventually
from tests.support.transcoder import StartWorker, Submitter, Watcher

LONG = {"preset": "vp9-720p"}  # libvpx on a few seconds of 640x360: long enough to interrupt


def ffmpeg_of(job_id: str) -> list[psutil.Process]:
    """This process's ffmpeg children working on ``job_id``."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "ffmpeg" in child.name() and any(job_id in arg for arg in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


async def transcoding(watcher: Watcher, job_id: str) -> None:
    await watcher.wait(
        lambda: (
            [e for e in watcher.of(job_id, topic="progress") if e.event.stage == "transcode"]
            and ffmpeg_of(job_id)
        ),
        30,
    )


async def test_progress_in_order_and_100_only_at_the_end(
    clips: Callable[..., Path], submit: Submitter, watcher: Watcher, start_worker: StartWorker
) -> None:
    await start_worker()
    job_id = await submit(clips(seconds=3.0, size="640x360"), LONG)
    await watcher.wait_type(job_id, "completed", 60)
    ticks = await watcher.wait(
        lambda: (t := watcher.of(job_id, topic="progress")) and t[-1].event.progress == 100 and t
    )
    values = [t.event.progress for t in ticks]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert values.count(100) == 1 and all(0 <= v < 100 for v in values[:-1])
    transcoding = [t.event for t in ticks if t.event.stage == "transcode"]
    assert transcoding, "the transcode stage reports progress"
    # ffmpeg's first reports say fps=0.00, and a short clip may finish before a later one
    assert all(e.fps is None or e.fps >= 0 for e in transcoding)  # type: ignore[attr-defined]
    span_s = (ticks[-2].time - ticks[0].time).total_seconds()
    assert len(ticks) - 1 <= 4 * span_s + 2, "throttled to about 4 ticks a second"
    assert {t.event.attempt for t in ticks} == {1}


async def test_cancel_running_and_queued(
    clips: Callable[..., Path],
    submit: Submitter,
    watcher: Watcher,
    start_worker: StartWorker,
    store: ObjectStore,
) -> None:
    clip = clips(seconds=6.0, size="640x360")
    jobs = [await submit(clip, LONG), await submit(clip, LONG)]
    await start_worker(worker_count=1)  # both read in catch-up: one runs, one waits
    started = await watcher.wait(
        lambda: [j for j in jobs if watcher.of(j, "video.job.started")], 30
    )
    assert len(started) == 1
    running = started[0]
    queued = next(j for j in jobs if j != running)

    await submit.send(CancelRequested(job_id=queued, requested_by="u1"))
    cancelled = (await watcher.wait_type(queued, "cancelled", 10)).event
    assert isinstance(cancelled, JobCancelled) and cancelled.attempt == 0

    await transcoding(watcher, running)
    asked = time.monotonic()
    await submit.send(CancelRequested(job_id=running, requested_by="u1"))
    stopped = (await watcher.wait_type(running, "cancelled", 10)).event
    assert time.monotonic() - asked < 2.0
    assert isinstance(stopped, JobCancelled) and stopped.attempt == 1
    assert not ffmpeg_of(running)
    for job_id in (running, queued):
        assert "completed" not in watcher.types(job_id)
        assert await store.list(output_prefix(job_id)) == []
    assert "started" not in watcher.types(queued)


async def test_killed_ffmpeg_is_retried_with_backoff(
    clips: Callable[..., Path], submit: Submitter, watcher: Watcher, start_worker: StartWorker
) -> None:
    await start_worker(retry_base_delay_s=0.5)
    job_id = await submit(clips(seconds=6.0, size="640x360"), LONG)
    await transcoding(watcher, job_id)
    for proc in ffmpeg_of(job_id):
        proc.kill()
    retry = (await watcher.wait_type(job_id, "retry_scheduled", 10)).event
    assert isinstance(retry, RetryScheduled) and retry.attempt == 2
    assert retry.reason.startswith("ffmpeg_killed")
    done = await watcher.wait_type(job_id, "completed", 60)
    assert done.event.attempt == 2  # type: ignore[attr-defined]
    # outputs live under their attempt: a stale attempt 1 can never touch them
    keys = [o.key for o in done.event.outputs]  # type: ignore[attr-defined]
    assert keys and all(k.startswith(output_prefix(job_id, 2)) for k in keys)
    started = [e for e in watcher.of(job_id, "video.job.started")]
    assert (started[1].time - retry.not_before).total_seconds() >= -0.05
    assert [t for t in watcher.types(job_id) if t != "stage_completed"] == [
        "submitted",
        "started",
        "retry_scheduled",
        "started",
        "completed",
    ]


async def test_watchdog_fails_a_stalled_job_after_its_attempts(
    clips: Callable[..., Path], submit: Submitter, watcher: Watcher, start_worker: StartWorker
) -> None:
    # ffmpeg reports progress every 0.5 s: a 0.2 s stall timeout trips between two reports.
    await start_worker(stall_timeout_s=0.2, max_attempts=2, retry_base_delay_s=0.1)
    job_id = await submit(clips(seconds=6.0, size="640x360"), LONG)
    failed = (await watcher.wait_type(job_id, "failed", 30)).event
    assert isinstance(failed, JobFailed)
    assert (failed.error_code, failed.retryable, failed.attempt) == ("stalled", True, 2)
    assert watcher.types(job_id).count("retry_scheduled") == 1
    assert not ffmpeg_of(job_id)


def undecodable_skipped() -> float:
    """The transcoder's count of skipped undecodable records (this process, every reason)."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "transcoder_undecodable_records"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def test_undecodable_record_is_skipped_not_dead_lettered_and_does_not_block(
    clips: Callable[..., Path],
    submit: Submitter,
    watcher: Watcher,
    start_worker: StartWorker,
    infra: object,
    settings: object,
) -> None:
    """Only the projector dead-letters: a second letter from the transcoder would duplicate
    every bad record with another source header."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    prefix = settings.topic_prefix  # type: ignore[attr-defined]
    bootstrap = infra.bootstrap_servers  # type: ignore[attr-defined]
    skipped_before = undecodable_skipped()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for partition in range(12):  # garbage ahead of work on every partition
            await producer.send_and_wait(
                prefix + JOBS.name,
                b"not json",
                key=b"x",
                partition=partition,
                headers=[("ce_type", b"video.job.submitted")],
            )
    finally:
        await producer.stop()
    await start_worker()
    job_id = await submit(clips())
    await watcher.wait_type(job_id, "completed", 30)
    await eventually(
        lambda: undecodable_skipped() - skipped_before >= 12,  # the worker reads past all 12
        timeout=10,
        message="the worker to skip every bad record",
    )
    dlq = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await dlq.start()
    try:
        tp = TopicPartition(prefix + JOBS_DLQ.name, 0)
        assert (await dlq.end_offsets([tp]))[tp] == 0
    finally:
        await dlq.stop()
