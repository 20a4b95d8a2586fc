"""``vidpipe analytics`` as a process: its port report, /health, its metrics, a clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from schemas.envelope import new_envelope
from schemas.events import JobSubmitted
from services.core.kafka.clients import KafkaEventPublisher
from services.core.runtime.ports import read_report

pytestmark = pytest.mark.slow

PRESET = "h264-720p"
SUBMITTED = f'vidpipe_analytics_jobs_total{{event="submitted",preset="{PRESET}"}}'
LAST_MINUTE = (
    f'vidpipe_analytics_minute{{dimension="preset",measure="jobs_submitted",value="{PRESET}"}}'
)


def sample(text: str, series: str) -> float:
    """The value of one exact series in the text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_serves_health_and_metrics_on_the_reported_ops_port(
    test_env: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "analytics.port"
    log = tmp_path / "analytics.log"
    env = {**os.environ, **test_env, "OPS_PORT": "0", "VIDPIPE_PORT_REPORT": str(report)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "analytics"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    publisher = KafkaEventPublisher(
        test_env["KAFKA_BOOTSTRAP_SERVERS"], topic_prefix=test_env["KAFKA_TOPIC_PREFIX"]
    )
    await publisher.start()
    try:
        deadline = time.monotonic() + 30
        while (port := read_report(report, proc.pid)) is None:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no port report"
            await asyncio.sleep(0.05)
        submitted = JobSubmitted(
            job_id=str(uuid.uuid4()),
            user_id=str(uuid.uuid4()),
            original_filename="a.mp4",
            source_key="sources/x/source",
            source_size=1,
            source_sha256="",
            processing_options={"preset": PRESET},
        )
        await publisher.publish(new_envelope(submitted, source="/test"))
        deadline = time.monotonic() + 90  # joining the group, then the first flush
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            while True:
                text = (await client.get("/metrics")).text
                if sample(text, SUBMITTED) >= 1 and sample(text, LAST_MINUTE) >= 1:
                    break
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the job never reached the metrics"
                await asyncio.sleep(0.2)
            health = await client.get("/health")
            ready = await client.get("/ready")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert ready.status_code == 200
        assert sample(text, SUBMITTED) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "Traceback" not in log.read_text()
    finally:
        await publisher.stop()
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
