"""Several projector members commit side by side: the tables equal one clean rebuild."""

from __future__ import annotations

import asyncio
import signal

import pytest

from schemas.envelope import Envelope
from schemas.events import JobProgress
from services.core.config import Settings
from services.core.endpoints import Endpoints
from services.projector.projection import project
from services.projector.rebuild import rebuild
from services.projector.service import connect
from services.projector.store import LIVE_TABLES, ReadModelStore
from tests.support.projector import (
    CatchUp,
    PublishEnvelopes,
    applied_total,
    checksums,
    projector_process,
    wait_for,
)
from tests.support.stream import recorded_stream


@pytest.mark.slow
async def test_members_joining_and_leaving_equal_a_clean_rebuild(
    settings: Settings,
    endpoints: Endpoints,
    test_env: dict[str, str],
    publish_envelopes: PublishEnvelopes,
    catch_up: CatchUp,
    db_url: str,
) -> None:
    stream = recorded_stream(3000, seed="m")
    await publish_envelopes(stream)
    members = [await projector_process(test_env), await projector_process(test_env)]
    try:

        async def applied_past(share: float) -> bool:
            return await applied_total(db_url) > len(stream) * share

        await wait_for(lambda: applied_past(0.2), 60, "a fifth applied by two members")
        members.append(await projector_process(test_env))  # a rebalance mid-stream
        await wait_for(lambda: applied_past(0.5), 60, "half applied")
        members[0].send_signal(signal.SIGTERM)  # and another one, as it leaves
        await catch_up()
    finally:
        for member in members:
            if member.returncode is None:
                member.terminate()
            await member.wait()
    together = await checksums(db_url)
    assert together["count"] == "3000"
    await rebuild(settings, endpoints)
    assert await checksums(db_url) == together


async def _apply(store: ReadModelStore, lifecycle: list[Envelope], ticks: list[Envelope]) -> None:
    """One batch commit of a member, as ``Projector._commit`` makes it (offsets aside)."""
    ids = {e.subject for e in lifecycle + ticks}
    async with store.conn.transaction():
        outcome = project(await store.load(ids), lifecycle, ticks)
        await store.write(outcome, {})


async def test_a_commit_waits_for_the_rows_another_commit_loaded(
    settings: Settings, endpoints: Endpoints, db_url: str
) -> None:
    """Ticks and lifecycle events of a job live on two topics whose partitions an assignor may
    give to different members: a member that loaded a job's row must be the only one to
    change it until it commits, or it writes back a stale row over the other's change."""
    stream = recorded_stream(1, seed="w")  # submitted, started, tick, stage, completed
    lifecycle = [e for e in stream if e.type != JobProgress.type]
    ticks = [e for e in stream if e.type == JobProgress.type]
    job_id = lifecycle[0].subject
    group = settings.group("projector")
    conns = [await connect(endpoints.database_url) for _ in range(3)]
    try:
        ticking, finishing = (ReadModelStore(c, LIVE_TABLES, group) for c in conns[:2])
        for store in (ticking, finishing):
            await store.prepare()
        await _apply(finishing, lifecycle[:2], [])  # submitted and started

        async def finisher_waits_for_a_lock() -> bool:
            pid = conns[1].get_server_pid()
            waiting = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1"
            return bool(await conns[2].fetchval(waiting, pid) == "Lock")

        async with ticking.conn.transaction():  # the ticking member, mid-commit
            loaded = await ticking.load([job_id])
            finish = asyncio.create_task(_apply(finishing, lifecycle[2:], []))
            await wait_for(finisher_waits_for_a_lock, 10, "the other commit to wait")
            await ticking.write(project(loaded, [], ticks), {})
        await finish
        row = await conns[2].fetchrow("SELECT status, progress FROM jobs WHERE id = $1", job_id)
    finally:
        for conn in conns:
            await conn.close()
    assert (row["status"], row["progress"]) == ("completed", 100)
