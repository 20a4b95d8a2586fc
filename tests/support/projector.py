"""A recorded event stream with known outcomes, and helpers to drive and inspect the projector."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.envelope import Envelope
from schemas.events import (
    CancelRequested,
    Event,
    JobCancelled,
    JobCompleted,
    JobDeleted,
    JobFailed,
    JobOutput,
    JobProgress,
    JobStarted,
    JobSubmitted,
    ReprocessRequested,
    RetryScheduled,
    StageCompleted,
)
from services.core.db import plain_url

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
KINDS = ("completed", "retried", "failed", "cancelled", "deleted", "reprocessed", "pending")
EXPECTED_STATUS = {
    "completed": "completed",
    "retried": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "deleted": "completed",
    "reprocessed": "completed",
    "pending": "pending",
}


def job_uuid(seed: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}/job/{n}"))


def user_uuid(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"user/{n % 5}"))


def lifecycle(job_id: str, kind: str, n: int) -> list[Event]:
    """The events of one job whose story is ``kind``."""
    worker = f"w-{n % 3}"
    out = JobOutput(
        name="720p", key=f"outputs/{job_id}/720p", content_type="video/mp4", size_bytes=n
    )

    def run(attempt: int, tick: bool = True) -> list[Event]:
        # Ticks travel on another topic, so whether one lands before a failure depends on
        # how the two topics interleave: only runs that complete (progress 100) get one.
        ticks = [JobProgress(job_id=job_id, attempt=attempt, progress=40, stage="transcode")]
        return [
            JobStarted(job_id=job_id, worker_id=worker, attempt=attempt),
            *(ticks if tick else []),
            StageCompleted(
                job_id=job_id,
                worker_id=worker,
                attempt=attempt,
                operation="transcode",
                status="ok",
                duration_ms=1000 + n,
                metadata={"rendition": "720p"},
            ),
        ]

    def done(attempt: int) -> Event:
        return JobCompleted(
            job_id=job_id,
            worker_id=worker,
            attempt=attempt,
            outputs=[out],
            metadata={"fps": 30.0},
            duration_ms=2000 + n,
        )

    events: list[Event] = [
        JobSubmitted(
            job_id=job_id,
            user_id=user_uuid(n),
            original_filename=f"clip-{n}.mp4",
            source_key=f"sources/{job_id}/clip-{n}.mp4",
            source_size=1000 * n,
            source_sha256="ab" * 32,
            processing_options={"preset": f"p{n % 2}"},
            source_metadata={"duration_s": 12.5, "width": 1280, "height": 720},
        )
    ]
    if kind == "pending":
        return events
    if kind == "cancelled":
        return [
            *events,
            CancelRequested(job_id=job_id, requested_by=user_uuid(n)),
            JobCancelled(job_id=job_id, attempt=0),
        ]
    events += run(1, tick=kind != "failed")
    if kind == "failed":
        return [
            *events,
            JobFailed(
                job_id=job_id,
                error_code="invalid_input",
                message="no video stream",
                retryable=False,
                attempt=1,
                worker_id=worker,
            ),
        ]
    if kind == "retried":
        events += [RetryScheduled(job_id=job_id, attempt=2, not_before=T0, reason="ffmpeg 137")]
        events += run(2)
        return [*events, done(2)]
    events.append(done(1))
    if kind == "deleted":
        events.append(JobDeleted(job_id=job_id, requested_by=user_uuid(n)))
    if kind == "reprocessed":
        events.append(
            ReprocessRequested(
                job_id=job_id, processing_options={"preset": "p9"}, requested_by="replay"
            )
        )
        events += [*run(1), done(1)]
    return events


def recorded_stream(jobs: int, seed: str = "s") -> list[Envelope]:
    """Interleaved lifecycles of ``jobs`` jobs, with fixed ids and times (deterministic)."""
    stories = [lifecycle(job_uuid(seed, n), KINDS[n % len(KINDS)], n) for n in range(jobs)]
    out: list[Envelope] = []
    step = 0
    while any(stories):
        for story in stories:
            if story:
                event = story.pop(0)
                moment = T0 + timedelta(milliseconds=step)
                out.append(
                    Envelope(
                        event=event,
                        source="/test",
                        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}/{step}")),
                        time=moment,
                    )
                )
                step += 1
    return out


def kind_of(n: int) -> str:
    return KINDS[n % len(KINDS)]


async def wait_for(
    check: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Poll ``check`` until true; fail after ``timeout`` seconds (no sleeps as synchronisation)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


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
        "--no-analytics",
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
