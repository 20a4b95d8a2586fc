"""SIGKILL the projector process mid-stream, restart it: the tables equal a clean rebuild."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import asyncpg
import pytest

from services.core.config import Settings
from services.core.db import plain_url
from services.core.endpoints import Endpoints
from services.projector.rebuild import rebuild
from tests.integration.projector.conftest import CatchUp, Publish
from tests.integration.projector.stream import checksums, recorded_stream, wait_for


async def _projector_process(env: dict[str, str]) -> asyncio.subprocess.Process:
    full = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    full.update(env, OPS_PORT="0")
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.core.cli",
        "projector",
        "--no-analytics",
        env=full,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _applied(db_url: str) -> int:
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        return int(
            await conn.fetchval("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets")
        )
    finally:
        await conn.close()


@pytest.mark.slow
async def test_sigkill_mid_batch_then_restart_equals_clean_rebuild(
    settings: Settings,
    endpoints: Endpoints,
    test_env: dict[str, str],
    publish: Publish,
    catch_up: CatchUp,
    db_url: str,
) -> None:
    stream = recorded_stream(3000, seed="k")
    await publish(stream)
    process = await _projector_process(test_env)
    try:
        total = len(stream)

        async def part_applied() -> bool:
            return 0 < await _applied(db_url) < total * 0.8

        await wait_for(part_applied, 60, "some batches applied")
        process.send_signal(signal.SIGKILL)
        await process.wait()
        killed_at = await _applied(db_url)
        assert 0 < killed_at < total
        process = await _projector_process(test_env)
        await catch_up()
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    survived = await checksums(db_url)
    assert survived["count"] == "3000"
    await rebuild(settings, endpoints)
    assert await checksums(db_url) == survived
