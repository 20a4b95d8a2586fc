"""Kafka helpers against the real broker: topic creation and a publish/consume round trip."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka.admin import AIOKafkaAdminClient

from schemas.envelope import decode, new_envelope
from schemas.events import JobStarted, JobSubmitted
from schemas.topics import CATALOGUE, JOBS
from services.core.kafka import KafkaEventPublisher, ensure_topics, make_consumer
from tests.support.infra import Infra


async def test_topics_are_created_once_with_catalogue_partitions(infra: Infra) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    first = await ensure_topics(infra.bootstrap_servers, topic_prefix=prefix)
    assert sorted(first) == sorted(prefix + t.name for t in CATALOGUE)
    assert await ensure_topics(infra.bootstrap_servers, topic_prefix=prefix) == []
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics([prefix + t.name for t in CATALOGUE])
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    assert partitions == {prefix + t.name: t.partitions for t in CATALOGUE}


async def test_published_events_come_back_decoded_in_order(infra: Infra, topic_prefix: str) -> None:
    publisher = KafkaEventPublisher(infra.bootstrap_servers, topic_prefix=topic_prefix)
    await publisher.start()
    job_id = str(uuid.uuid4())
    submitted = JobSubmitted(
        job_id=job_id,
        user_id="u1",
        original_filename="a.mp4",
        source_key=f"sources/{job_id}/source",
        source_size=10,
        source_sha256="0" * 64,
    )
    started = JobStarted(job_id=job_id, worker_id="w1", attempt=1)
    try:
        positions = await publisher.publish_many(
            [new_envelope(e, source="/test", correlation_id="corr-1") for e in (submitted, started)]
        )
    finally:
        await publisher.stop()
    assert positions[0][0] == positions[1][0], "one job's events share a partition"
    assert positions[1][1] == positions[0][1] + 1

    consumer = make_consumer(
        infra.bootstrap_servers, topic_prefix + JOBS.name, group_id=f"g-{uuid.uuid4().hex}"
    )
    await consumer.start()
    received = []
    deadline = time.monotonic() + 20
    try:
        while len(received) < 2 and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    received.append(
                        (
                            decode(
                                r.key, r.value, r.headers, partition=r.partition, offset=r.offset
                            ),
                            dict(r.headers),
                        )
                    )
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    assert [env.event for env, _ in received] == [submitted, started]
    envelope, headers = received[0]
    assert headers["ce_type"] == b"video.job.submitted"
    assert headers["ce_subject"] == job_id.encode()
    assert headers["correlation_id"] == b"corr-1"
    assert envelope.correlation_id == "corr-1"
    assert envelope.offset == positions[0][1]
