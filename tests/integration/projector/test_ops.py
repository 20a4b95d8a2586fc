"""``vidpipe projector`` as a process: ``/health`` and the metrics the issue names."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import pytest

from schemas.envelope import KafkaRecord, new_envelope
from schemas.events import JobStarted, JobSubmitted
from services.core.kafka.clients import KafkaEventPublisher
from services.core.runtime.process import free_port
from tests.support.eventually import eventually

pytestmark = pytest.mark.slow


def metric(text: str, name: str) -> float:
    """The sum of every sample of ``name`` (all label sets)."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def test_health_and_metrics(test_env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "projector"],
        env={**os.environ, **test_env, "OPS_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    publisher = KafkaEventPublisher(
        test_env["KAFKA_BOOTSTRAP_SERVERS"], topic_prefix=test_env["KAFKA_TOPIC_PREFIX"]
    )
    await publisher.start()
    try:
        job_id = str(uuid.uuid4())
        await publisher.publish_many(
            [
                new_envelope(
                    JobSubmitted(
                        job_id=job_id,
                        user_id=str(uuid.uuid4()),
                        original_filename="a.mp4",
                        source_key="sources/x/source",
                        source_size=1,
                        source_sha256="",
                    ),
                    source="/test",
                ),
                # an illegal transition (a job nobody submitted): counted and skipped
                new_envelope(
                    JobStarted(job_id=str(uuid.uuid4()), worker_id="w", attempt=1), source="/test"
                ),
            ]
        )
        # an undecodable record: dead-lettered, never blocks the partition
        await publisher.send_record(
            KafkaRecord(topic="video.jobs", key=b"k", value=b"not json", headers=[])
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def counted() -> str | None:
                text = (await client.get("/metrics")).text
                skipped = metric(text, "vidpipe_projector_events_skipped_total")
                dead = metric(text, "vidpipe_projector_dead_letters_total")
                return text if skipped >= 1 and dead >= 1 else None

            text: str = await eventually(
                counted,
                timeout=60,
                message="the projector to apply the events",
                ignoring=(httpx.TransportError,),
            )
            health = await client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        applied = 'vidpipe_projector_events_applied_total{type="video.job.submitted"}'
        assert metric(text, applied) == 1
        assert metric(text, "vidpipe_projector_batch_seconds_count") >= 1
        assert "vidpipe_projector_lag_records{" in text
    finally:
        await publisher.stop()
        proc.terminate()
        proc.wait(30)
