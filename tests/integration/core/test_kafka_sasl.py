"""Kafka with SASL (SCRAM-SHA-512) against a real broker that asks for it: vidpipe's clients
authenticate with the ``KAFKA_SASL_*`` settings, a client without them is refused, and the
ingest service and the projector work end to end through such a broker.

The broker is the embedded one with its client listener on SASL_PLAINTEXT and the user
created when its storage is formatted (``EmbeddedBroker(scram_user=...)``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.analytics import MinuteAggregate
from schemas.envelope import decode, new_envelope
from schemas.events import JobSubmitted
from schemas.topics import ANALYTICS, CATALOGUE, JOBS
from services.cli.embedded import EmbeddedBroker
from services.core.kafka.clients import (
    BrokerUnavailable,
    KafkaEventPublisher,
    ensure_topics,
    make_consumer,
    topic_partitions,
    wait_for_broker,
)
from services.core.kafka.security import PLAINTEXT, KafkaSecurity
from services.core.runtime.process import free_port
from services.core.runtime.settings import Settings
from services.core.stack.discovery import resolve
from services.projector.bootstrap import run_projector
from tests.support.eventually import eventually
from tests.support.infra import Infra, slice_env
from tests.support.ingest import start_api
from tests.support.projector import fetch_jobs
from tests.support.stream import recorded_stream

USER = "vidpipe"
PASSWORD = f"sasl-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker whose client listener asks for SCRAM-SHA-512 and knows ``USER``."""
    root = tmp_path_factory.mktemp("sasl-broker")
    broker = EmbeddedBroker(free_port(), root / "kafka", scram_user=(USER, PASSWORD))
    try:
        yield broker.start()
    finally:
        broker.stop()


def sasl_env(bootstrap: str, password: str = PASSWORD) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": USER,
        "KAFKA_SASL_PASSWORD": password,
    }


def security_from_settings(
    bootstrap: str, tmp_path: Path, password: str = PASSWORD
) -> KafkaSecurity:
    env = {**sasl_env(bootstrap, password), "VIDPIPE_DATA_DIR": str(tmp_path)}
    return Settings.from_env(env).kafka_security()


async def test_the_right_credentials_publish_and_consume_as_a_group(
    sasl_broker: str, tmp_path: Path
) -> None:
    security = security_from_settings(sasl_broker, tmp_path)
    await wait_for_broker(sasl_broker, 60, security=security)
    prefix = f"s{uuid.uuid4().hex[:10]}."
    assert await ensure_topics(
        sasl_broker, topic_prefix=prefix, catalogue=[JOBS], security=security
    ) == [prefix + JOBS.name]
    job_id = str(uuid.uuid4())
    submitted = JobSubmitted(
        job_id=job_id,
        user_id="u1",
        original_filename="a.mp4",
        source_key=f"sources/{job_id}/source",
        source_size=10,
        source_sha256="0" * 64,
    )
    publisher = KafkaEventPublisher(sasl_broker, topic_prefix=prefix, security=security)
    await publisher.start()
    try:
        await publisher.publish(new_envelope(submitted, source="/test"))
    finally:
        await publisher.stop()

    group = f"{prefix}group"
    consumer = make_consumer(sasl_broker, prefix + JOBS.name, group_id=group, security=security)
    await consumer.start()
    found: list[str] = []

    async def consumed() -> bool:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            found.extend(decode(r.key, r.value, r.headers).event.job_id for r in records)
        return job_id in found

    try:
        await eventually(consumed, timeout=30, message="the event through SASL")
        await consumer.commit()  # the group coordinator answers a SASL client too
    finally:
        await consumer.stop()


@pytest.mark.parametrize("credentials", ["none", "wrong password"])
async def test_a_client_without_the_credentials_is_refused(
    sasl_broker: str, tmp_path: Path, credentials: str, caplog: pytest.LogCaptureFixture
) -> None:
    await wait_for_broker(sasl_broker, 60, security=security_from_settings(sasl_broker, tmp_path))
    if credentials == "none":
        security = PLAINTEXT
    else:
        security = security_from_settings(sasl_broker, tmp_path, password="not-the-password")
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(BrokerUnavailable):
        await wait_for_broker(sasl_broker, 2, security=security)
    if credentials == "wrong password":
        assert "Authentication failed" in caplog.text, caplog.text
    publisher = KafkaEventPublisher(sasl_broker, security=security)
    with pytest.raises(Exception, match="Unable to bootstrap"):
        await publisher.start()
    await publisher.stop()


async def test_ingest_and_projector_work_through_a_sasl_broker(
    sasl_broker: str, infra: Infra, db_url: str, tmp_path: Path, video: bytes
) -> None:
    """An upload is published by ingest and recorded by the projector, both configured by
    the ``KAFKA_*`` variables alone (as in compose and Kubernetes)."""
    prefix = f"s{uuid.uuid4().hex[:10]}."
    env = {
        **slice_env(Infra(sasl_broker, infra.server_url), db_url, prefix, tmp_path),
        **sasl_env(sasl_broker),
        "MAX_FILE_SIZE": "2MB",
    }
    settings = Settings.from_env(env)
    endpoints = resolve(settings)
    await wait_for_broker(sasl_broker, 60, security=endpoints.kafka_security)
    await ensure_topics(sasl_broker, topic_prefix=prefix, security=endpoints.kafka_security)
    started = asyncio.Event()
    projector = asyncio.create_task(
        run_projector(settings, endpoints, started=started, session_timeout_ms=1500)
    )
    api, stop = await start_api(env)
    try:

        def projector_started() -> bool:
            if projector.done():
                projector.result()  # its start-up error
            return started.is_set()

        await eventually(projector_started, timeout=60, message="the projector to start")
        ready = await api.client.get("/ready")
        assert ready.status_code == 200, ready.text
        response = await api.upload(await api.user(), ("clip.mp4", video))
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]

        async def recorded() -> bool:
            return job_id in await fetch_jobs(db_url)

        await eventually(recorded, timeout=60, message="the projector to record the upload")
    finally:
        await stop()
        projector.cancel()
        await asyncio.gather(projector, return_exceptions=True)


async def test_vidpipe_topics_creates_the_catalogue_through_sasl(
    sasl_broker: str, tmp_path: Path
) -> None:
    """``vidpipe topics``, the one-shot of compose and Kubernetes, with the ``KAFKA_*``
    variables only."""
    prefix = f"s{uuid.uuid4().hex[:10]}."
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")},
        **sasl_env(sasl_broker),
        "KAFKA_TOPIC_PREFIX": prefix,
        "DATABASE_URL": "postgresql://unused@127.0.0.1:1/unused",  # not reached
        "VIDPIPE_DATA_DIR": str(tmp_path),
        "JWT_SECRET": "x" * 32,
    }
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "topics", env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await done.communicate()
    assert done.returncode == 0, err.decode()
    assert f"topics: {len(CATALOGUE)} created" in out.decode()
    security = security_from_settings(sasl_broker, tmp_path)
    assert await ensure_topics(sasl_broker, topic_prefix=prefix, security=security) == []


async def test_the_analytics_stream_processor_works_through_sasl(
    sasl_broker: str, tmp_path: Path
) -> None:
    """faust gets the same login (``broker_credentials``) for its consumer, producer, tables'
    changelogs and the topics it creates."""
    prefix = f"s{uuid.uuid4().hex[:10]}."
    env = {
        **sasl_env(sasl_broker),
        "KAFKA_TOPIC_PREFIX": prefix,
        "DATABASE_URL": "postgresql://unused@127.0.0.1:1/unused",  # analytics reads no database
        "VIDPIPE_DATA_DIR": str(tmp_path),
    }
    settings = Settings.from_env(env)
    security = resolve(settings).kafka_security
    await wait_for_broker(sasl_broker, 60, security=security)
    await ensure_topics(sasl_broker, topic_prefix=prefix, security=security)
    stream = [e for e in recorded_stream(4, seed="sasl") if isinstance(e.event, JobSubmitted)]
    publisher = KafkaEventPublisher(sasl_broker, topic_prefix=prefix, security=security)
    await publisher.start()
    try:
        await publisher.publish_many(stream)
    finally:
        await publisher.stop()
    # its own process: the analytics counters are process-wide (test_analytics counts them)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DATABASE_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "analytics",
        env={**full, **env, "OPS_PORT": "0", "JWT_SECRET": "x" * 32},
        stdout=DEVNULL,
        stderr=PIPE,
    )
    consumer = make_consumer(sasl_broker, group_id=None, security=security)
    await consumer.start()
    submitted = 0
    try:
        partitions = await topic_partitions(consumer, settings.topic(ANALYTICS.name))
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        latest: dict[str, MinuteAggregate] = {}

        async def counted() -> bool:
            nonlocal submitted
            if process.returncode is not None:
                raise AssertionError((await process.stderr.read()).decode()[-2000:])  # type: ignore[union-attr]
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    value = MinuteAggregate.from_record(record.value)
                    latest[value.key] = value
            submitted = sum(a.jobs_submitted for a in latest.values() if a.dimension == "user")
            return submitted == len(stream)

        await eventually(counted, timeout=90, message="the aggregates through SASL")
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
        await consumer.stop()
