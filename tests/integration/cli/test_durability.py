"""``vidpipe up`` restarted and crashed on one data dir: nothing accepted is lost.

Driven as a user would: the real ``vidpipe up`` (embedded Apache Kafka and PostgreSQL), HTTP,
and the CLI (``tap``, ``projector rebuild``, ``replay``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from services.core.db.engine import plain_url
from tests.support import media
from tests.support.eventually import eventually
from tests.support.projector import checksums
from tests.support.up import Up, User

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vpd", dir="/tmp") as tmp:
        yield Path(tmp)


def vidpipe(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A CLI command beside the running ``up`` (it finds it through the data dir)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PREFIX")
    }
    env["VIDPIPE_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def database_url(data_dir: Path) -> str:
    return str(json.loads((data_dir / "stack.json").read_text())["database_url"])


def tapped(data_dir: Path) -> list[dict[str, Any]]:
    """Every event of ``video.jobs`` from the beginning, as ``vidpipe tap`` prints them."""
    tap = vidpipe(data_dir, "tap", "video.jobs", "--from-beginning", "--idle-exit", "3")
    assert tap.returncode == 0, tap.stderr
    return [json.loads(line) for line in tap.stdout.splitlines()]


async def event_count(db_url: str, job_id: str) -> tuple[str, int]:
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        row = await conn.fetchrow("SELECT status, event_count FROM jobs WHERE id=$1", job_id)
    finally:
        await conn.close()
    return str(row["status"]), int(row["event_count"])


async def test_restart_keeps_log_and_read_model(data_dir: Path) -> None:
    source = media.make_video(data_dir.parent / f"{data_dir.name}.mp4", seconds=1.0)
    up = Up(data_dir)
    try:
        up.wait_ready()
        user = await User.register(up.address("ingest"))
        job_id = await user.upload(source)
        await user.completed(job_id)

        # A second `up` on this data dir refuses, names the running one, and changes nothing.
        kept = {name: (data_dir / name).read_bytes() for name in ("stack.json", "up.lock")}
        second = vidpipe(data_dir, "up")
        assert second.returncode != 0
        message = second.stderr.strip()
        assert len(message.splitlines()) == 1, second.stderr
        port = up.address("ingest").rsplit(":", 1)[1]
        assert f"pid {up.proc.pid}" in message and f"port {port}" in message, message
        assert {n: (data_dir / n).read_bytes() for n in kept} == kept
        assert (await user.job(job_id))["status"] == "completed", "the running stack is fine"

        before = await checksums(database_url(data_dir))
        events = tapped(data_dir)
        assert len(events) >= 4, events  # submitted, started, …, completed
        partition = events[0]["partition"]
    except BaseException:
        up.dump()
        raise
    finally:
        assert up.stop() == 0

    again = Up(data_dir)
    try:
        again.wait_ready()
        db_url = database_url(data_dir)
        user = await User.login(again.address("ingest"))
        assert (await user.job(job_id))["status"] == "completed"
        assert await checksums(db_url) == before, "the read model is unchanged"
        assert tapped(data_dir)[: len(events)] == events, "the log kept every event"

        rebuilt = vidpipe(data_dir, "projector", "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "rebuild: 1 jobs" in rebuilt.stdout
        assert await checksums(db_url) == before, "the rebuild gives the same jobs and history"

        _, seen = await event_count(db_url, job_id)
        replay = vidpipe(data_dir, "replay", "--job", job_id)
        assert replay.returncode == 0 and "reprocessing 1 jobs" in replay.stdout, replay.stdout

        async def reprocessed() -> bool:
            status, count = await event_count(db_url, job_id)
            return status == "completed" and count > seen + 2

        await eventually(reprocessed, timeout=90, message="the pre-restart job reprocessed")

        # A log that lost its first records cannot reproduce the tables: refused, untouched.
        await _delete_first_record(again.address("kafka"), partition)
        before = await checksums(db_url)
        refused = vidpipe(data_dir, "projector", "rebuild")
        assert refused.returncode != 0
        assert "refused" in refused.stderr and "starts at offset 1" in refused.stderr
        assert await checksums(db_url) == before
    except BaseException:
        again.dump()
        raise
    finally:
        assert again.stop() == 0


async def _delete_first_record(bootstrap: str, partition: int) -> None:
    """What retention would do to the oldest record of ``partition``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_records({TopicPartition("video.jobs", partition): RecordsToDelete(1)})
    finally:
        await admin.close()


async def test_sigkill_after_202_still_completes_the_job(data_dir: Path) -> None:
    source = media.make_video(data_dir.parent / f"{data_dir.name}.mp4", seconds=1.0)
    up = Up(data_dir, new_session=True)
    try:
        up.wait_ready()
        user = await User.register(up.address("ingest"))
        stack = [p for p in up.descendants() if p.pid != _postgres_pid(data_dir)]
        job_id = await user.upload(source)
        up.kill()  # the whole stack, the moment it said 202
        _gone, alive = psutil.wait_procs(stack, timeout=40)
        assert alive == [], f"left behind by a SIGKILLed up: {[p.cmdline() for p in alive]}"
    except BaseException:
        up.dump()
        up.close()
        raise

    again = Up(data_dir)
    try:
        again.wait_ready()
        user = await User.login(again.address("ingest"))
        job = await user.completed(job_id)
        assert {o["name"] for o in job["outputs"]} >= {"thumbnail.jpg", "preview.mp4"}
    except BaseException:
        again.dump()
        raise
    finally:
        assert again.stop() == 0


def _postgres_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "pg" / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None
