"""A host cut off: a transcoder in its own network namespace loses the broker mid-job. Its job
is redone elsewhere; when the host comes back, nothing it publishes changes the read model."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from schemas.envelope import new_envelope
from schemas.events import JobSubmitted
from services.cli.embedded import EmbeddedBroker
from services.core.kafka.clients import KafkaEventPublisher, ensure_topics, wait_for_broker
from services.core.media.probe import probe
from services.core.runtime.process import free_port
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints
from services.core.storage import keys, open_store
from services.projector.rebuild import rebuild
from tests.reliability import netns
from tests.reliability.harness import Processes, Service, fetch, fold
from tests.support.eventually import eventually
from tests.support.infra import Infra, create_database, drop_database, slice_env
from tests.support.projector import caught_up, checksums, end_offsets
from tests.support.transcoder import watch_log

FLAGS = ["--session-timeout-ms", "3000", "--retry-delay", "0.2", "--rebalance-grace", "3"]


@pytest.fixture
async def cut_env(infra: Infra, tmp_path: Path) -> AsyncIterator[tuple[dict[str, str], Any]]:
    reason = netns.unavailable()
    if reason:
        pytest.skip(f"network namespaces unavailable: {reason}")
    with netns.namespace() as ns:
        broker = EmbeddedBroker(
            free_port(netns.HOST_ADDR),
            tmp_path / "kafka",
            log_path=tmp_path / "broker.log",
            host=netns.HOST_ADDR,
        )
        bootstrap = broker.start()
        db_url = await create_database(infra)
        try:
            await wait_for_broker(bootstrap, 15)
            prefix = f"t{uuid.uuid4().hex[:10]}."
            await ensure_topics(bootstrap, topic_prefix=prefix)
            env = slice_env(infra, db_url, prefix, tmp_path)
            env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
            yield env, ns
        finally:
            await drop_database(infra, db_url)
            broker.stop()


def _log_has(service: Service, *needles: str) -> bool:
    return any(all(n in line for n in needles) for line in service.log.read_text().splitlines())


async def test_transcoder_cut_off_mid_job(
    cut_env: tuple[dict[str, str], netns.Namespace],
    procs: Processes,
    clips: Callable[..., Path],
) -> None:
    env, ns = cut_env
    settings = Settings.from_env(env)
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    procs.start("projector", ["projector"], env)
    isolated = procs.start(
        "transcoder-netns",
        ["transcoder", *FLAGS],
        {**env, "WORKER_COUNT": "1"},
        prefix=ns.exec_prefix,
        ops=False,
    )
    await eventually(
        lambda: _log_has(isolated, "assigned"), timeout=30, message="the isolated worker assigned"
    )
    store = open_store(settings.storage_url)
    publisher = KafkaEventPublisher(bootstrap, topic_prefix=settings.topic_prefix)
    await publisher.start()

    async def submit(source: Path) -> str:
        job_id = str(uuid.uuid4())
        stored = await store.put_file(keys.source_key(job_id), source)
        await publisher.publish(
            new_envelope(
                JobSubmitted(
                    job_id=job_id,
                    user_id=str(uuid.uuid4()),
                    original_filename=source.name,
                    source_key=stored.key,
                    source_size=stored.size_bytes,
                    source_sha256=stored.sha256 or hashlib.sha256(source.read_bytes()).hexdigest(),
                    processing_options={"preset": "h264-480p"},
                ),
                source="/test",
            )
        )
        return job_id

    try:
        async with watch_log(bootstrap, settings.topic_prefix) as log:
            job = await submit(clips(seconds=6.0, size="640x360"))
            marker = f":{isolated.pid}/"

            def started_there() -> bool:
                return any(
                    marker in e.event.worker_id  # type: ignore[attr-defined]
                    for e in log.of(job, "video.job.started", topic="jobs")
                )

            await log.wait(started_there, 60)
            ns.cut()
            cut_at = time.monotonic()
            assert "completed" not in log.types(job), "the job ended before the cut"
            seen_at_cut = len(log.of(job))
            rescuer = procs.start(
                "transcoder", ["transcoder", *FLAGS], {**env, "WORKER_COUNT": "1"}
            )
            db = env["DATABASE_URL"]

            async def completed_in_read_model() -> bool:
                rows = await fetch(db, "SELECT status FROM jobs WHERE id = $1", job)
                return bool(rows) and rows[0]["status"] == "completed"

            await eventually(
                completed_in_read_model, timeout=60, message="the job redone on the other host"
            )
            redone_s = time.monotonic() - cut_at
            # The projector may apply the completion before this test's own consumer reads it.
            await log.wait(lambda: bool(fold(log.of(job, topic="jobs"))[1]), 30)
            _state, completions = fold(log.of(job, topic="jobs"))
            assert len(completions) == 1 and f":{rescuer.pid}/" in completions[0].worker_id
            assert any("worker_lost" in line for line in log.summary(job))
            before = await _job_rows(db, job)

            ns.restore()
            # the isolated worker finishes or abandons its attempt and rejoins the group
            await eventually(
                lambda: _log_has(isolated, job, "attempt") and _log_has_after_assign(isolated),
                timeout=60,
                message="the isolated worker back in the group",
            )
            late = [e for e in log.of(job)[seen_at_cut:] if marker in _worker(e.event)]
            # a fresh job still runs to completion with the host back
            other = await submit(clips(seconds=1.0))
            await log.wait_type(other, "completed", 60)
            topics = [settings.topic("video.jobs"), settings.topic("video.progress")]
            ends = await end_offsets(bootstrap, topics)
            group = settings.group("projector")
            await eventually(
                lambda: caught_up(db, group, ends), timeout=60, message="projector caught up"
            )
            assert await _job_rows(db, job) == before, "the late host changed the read model"
            _state, completions = fold(log.of(job, topic="jobs"))
            assert len(completions) == 1, log.summary(job)
            root = Path(urlparse(settings.storage_url).path)
            for output in completions[0].outputs:
                assert (root / output.key).is_file(), f"{output.key} is gone"
            info = probe(str(root / completions[0].outputs[0].key))
            assert (info.width, info.height) == (640, 360)
            assert info.duration_s == pytest.approx(6.0, abs=0.2)
            survived = await checksums(db)
            await rebuild(settings, Endpoints(database_url=db, kafka_bootstrap_servers=bootstrap))
            assert await checksums(db) == survived, "read model differs from a clean rebuild"
            print(
                f"\nhost cut: job redone elsewhere {redone_s:.1f}s after the cut;"
                f" after reconnecting the cut-off host published {len(late)} late events for it"
                f" ({sorted({e.type.removeprefix('video.job.') for e in late})}), none applied"
            )
    finally:
        await publisher.stop()
        store.close()


def _worker(event: object) -> str:
    return str(getattr(event, "worker_id", "") or "")


def _log_has_after_assign(service: Service) -> bool:
    """At least two assignments logged: the first join and the rejoin after the cut."""
    lines = service.log.read_text().splitlines()
    return sum("assigned" in line for line in lines) >= 2


async def _job_rows(db: str, job: str) -> tuple[str, str]:
    rows = await fetch(db, "SELECT * FROM jobs WHERE id = $1", job)
    history = await fetch(
        db, "SELECT * FROM processing_history WHERE job_id = $1 ORDER BY event_id", job
    )
    return json.dumps(rows, default=str), json.dumps(history, default=str)
