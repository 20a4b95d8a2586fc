"""Ingest with a real ``vidpipe projector`` process behind it (the read model fills from the
log), and helpers to play the transcoder's part by publishing its events."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx

from schemas.envelope import new_envelope
from schemas.events import Event, JobSubmitted
from services.core.db.engine import plain_url
from services.core.kafka.clients import KafkaEventPublisher
from tests.support.eventually import eventually
from tests.support.ingest import Api, start_api


async def publish(env: dict[str, str], *events: Event) -> None:
    publisher = KafkaEventPublisher(
        env["KAFKA_BOOTSTRAP_SERVERS"], topic_prefix=env["KAFKA_TOPIC_PREFIX"]
    )
    await publisher.start()
    try:
        await publisher.publish_many([new_envelope(e, source="/test") for e in events])
    finally:
        await publisher.stop()


async def _applied(db_url: str, job_id: str) -> None:
    conn = await asyncpg.connect(plain_url(db_url))
    try:

        async def found() -> bool:
            return bool(await conn.fetchval("SELECT count(*) FROM jobs WHERE id = $1", job_id))

        await eventually(found, timeout=60, message="the projector applied the warm-up job")
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def projector_process(env: dict[str, str]) -> AsyncIterator[None]:
    """``vidpipe projector`` as its own process, as production runs it, once it is consuming
    (its stderr to ``$PROJECTOR_LOG`` when set)."""
    # the child keeps its own copy of the descriptor: ours is closed as soon as it has started
    with open(os.environ.get("PROJECTOR_LOG", os.devnull), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "projector"],
            env={**os.environ, **env, "OPS_PORT": "0"},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        warm_up = str(uuid.uuid4())  # a job nobody owns: applied once the projector consumes
        await publish(
            env,
            JobSubmitted(
                job_id=warm_up,
                user_id=str(uuid.uuid4()),
                original_filename="warm-up.mp4",
                source_key=f"sources/{warm_up}/source",
                source_size=0,
                source_sha256="",
            ),
        )
        await _applied(env["DATABASE_URL"], warm_up)
        yield
    finally:
        proc.terminate()
        proc.wait(30)


@contextlib.asynccontextmanager
async def api_with_projector(env: dict[str, str]) -> AsyncIterator[Api]:
    """An ingest server for ``env`` and a projector process, once it is consuming."""
    async with projector_process(env):
        api, stop = await start_api(env)
        try:
            yield api
        finally:
            await stop()


async def job_when(
    api: Api, headers: dict[str, str], job_id: str, what: str, **fields: Any
) -> dict[str, Any]:
    """The job once every field in ``fields`` has the given value (read from the API)."""

    async def check() -> dict[str, Any] | None:
        response: httpx.Response = await api.client.get(f"/jobs/{job_id}", headers=headers)
        if response.status_code != 200:
            return None
        job: dict[str, Any] = response.json()
        return job if all(job.get(k) == v for k, v in fields.items()) else None

    found: dict[str, Any] = await eventually(check, timeout=30, message=what)
    return found
