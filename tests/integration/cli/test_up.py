"""``vidpipe up`` on the embedded defaults, driven as a user would drive it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from schemas.envelope import new_envelope
from schemas.events import JobSubmitted
from services.core.db.engine import plain_url
from services.core.kafka.clients import KafkaEventPublisher
from tests.support import media
from tests.support.eventually import eventually
from tests.support.up import READY_DEADLINE_S, Up

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vpu", dir="/tmp") as tmp:
        yield Path(tmp)


async def test_up_is_ready_taps_and_stops_without_orphans(data_dir: Path) -> None:
    up = Up(data_dir)
    try:
        ready_s = up.wait_ready()
        assert ready_s < READY_DEADLINE_S
        components = ("postgres", "kafka", "storage", "migrations", "topics")
        services = ("ingest", "notifier", "projector", "transcoder")
        for component in components + services:
            up.address(component)
        bootstrap = up.address("kafka")
        stack = json.loads((data_dir / "stack.json").read_text())
        assert stack["kafka_bootstrap_servers"] == bootstrap

        job_id = str(uuid.uuid4())
        publisher = KafkaEventPublisher(bootstrap)
        await publisher.start()
        try:
            await publisher.publish(
                new_envelope(
                    JobSubmitted(
                        job_id=job_id,
                        user_id="u1",
                        original_filename="a.mp4",
                        source_key=f"sources/{job_id}/source",
                        source_size=1,
                        source_sha256="0" * 64,
                    ),
                    source="/test",
                )
            )
        finally:
            await publisher.stop()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
        }
        tap = subprocess.run(
            [
                sys.executable,
                "-m",
                "services.cli",
                "tap",
                "video.jobs",
                "--from-beginning",
                "--max",
                "1",
            ],
            env={**env, "VIDPIPE_DATA_DIR": str(data_dir)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert tap.returncode == 0, tap.stderr
        event = json.loads(tap.stdout)
        assert event["subject"] == job_id and event["type"] == "video.job.submitted"

        conn = await asyncpg.connect(plain_url(stack["database_url"]))
        try:
            await conn.execute(
                "INSERT INTO users (username, email, password_hash) VALUES ('keep', 'k@x.io', 'h')"
            )
        finally:
            await conn.close()
        try:
            await _whole_pipeline(up.address("ingest"), data_dir)
        except BaseException:
            up.dump()
            raise
        children = up.descendants()
        assert len(children) >= 2, "broker and postgres are running"
    finally:
        code = up.stop()
    assert code == 0
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"orphans left behind: {alive}"
    assert not (data_dir / "stack.json").exists()

    again = Up(data_dir)
    try:
        again.wait_ready()
        url = json.loads((data_dir / "stack.json").read_text())["database_url"]
        conn = await asyncpg.connect(plain_url(url))
        try:
            assert await conn.fetchval("SELECT count(*) FROM users WHERE username='keep'") == 1
        finally:
            await conn.close()
    finally:
        assert again.stop() == 0


async def _whole_pipeline(base: str, tmp: Path) -> None:
    """Upload through the public origin, follow it over SSE, download the result."""
    source = media.make_video(tmp / "e2e.mp4", seconds=1.0, size="320x240")
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        account = {"username": "e2e", "email": "e2e@example.com", "password": "password123"}
        assert (await client.post("/auth/register", json=account)).status_code == 201
        login = {"username": "e2e", "password": "password123"}
        token = (await client.post("/auth/login", json=login)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        upload = await client.post(
            "/upload",
            headers=headers,
            files={"file": ("e2e.mp4", source.read_bytes())},
            data={"options": json.dumps({"preset": "h264-480p"})},
        )
        assert upload.status_code == 202, upload.text
        job_id = upload.json()["id"]
        names: list[str] = []
        async with client.stream("GET", f"/jobs/{job_id}/events", headers=headers) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    names.append(line.split(":", 1)[1].strip())
                if names and names[-1] in ("job_complete", "error_notification"):
                    break
        assert names[-1] == "job_complete", names

        async def completed() -> dict[str, Any] | None:
            job: dict[str, Any] = (await client.get(f"/jobs/{job_id}", headers=headers)).json()
            return job if job["status"] == "completed" else None

        # SSE can be ahead of the read model: wait (bounded) for the projector
        job = await eventually(completed, timeout=30, message=f"job {job_id} completed")
        assert job["progress"] == 100
        assert {o["name"] for o in job["outputs"]} >= {"thumbnail.jpg", "preview.mp4"}
        video = await client.get(f"/jobs/{job_id}/download", headers=headers)
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        history = (await client.get(f"/jobs/{job_id}/history", headers=headers)).json()["items"]
        assert "transcode" in [row["operation"] for row in history]
