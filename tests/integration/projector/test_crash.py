"""SIGKILL the projector process mid-stream, restart it: the tables equal a clean rebuild."""

from __future__ import annotations

import signal

import pytest

from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints
from services.projector.rebuild import rebuild
from tests.support.eventually import eventually
from tests.support.projector import (
    CatchUp,
    PublishEnvelopes,
    applied_total,
    checksums,
    projector_process,
)
from tests.support.stream import recorded_stream


@pytest.mark.slow
async def test_sigkill_mid_batch_then_restart_equals_clean_rebuild(
    settings: Settings,
    endpoints: Endpoints,
    test_env: dict[str, str],
    publish_envelopes: PublishEnvelopes,
    catch_up: CatchUp,
    db_url: str,
) -> None:
    # Several batches of BATCH_RECORDS (20,000): Kafka hands the projector a full batch per
    # poll, so a smaller log is applied in one or two steps and leaves no "mid-stream" to kill.
    stream = recorded_stream(8000, seed="k")
    await publish_envelopes(stream)
    process = await projector_process(test_env)
    try:
        total = len(stream)

        async def part_applied() -> bool:
            return 0 < await applied_total(db_url) < total * 0.8

        await eventually(part_applied, timeout=60, message="some batches applied")
        process.send_signal(signal.SIGKILL)
        await process.wait()
        killed_at = await applied_total(db_url)
        assert 0 < killed_at < total
        process = await projector_process(test_env)
        await catch_up()
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    survived = await checksums(db_url)
    assert survived["count"] == "8000"
    await rebuild(settings, endpoints)
    assert await checksums(db_url) == survived
