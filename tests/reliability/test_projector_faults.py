"""Projector faults: SIGKILL mid-batch (several times) over a log with interleaved jobs and
duplicated deliveries; the read model equals a clean rebuild from offset 0."""

from __future__ import annotations

import random
import time
from datetime import datetime

import asyncpg

from schemas.envelope import Envelope
from services.core.db.engine import plain_url
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints
from services.projector.rebuild import rebuild
from tests.reliability.harness import Processes
from tests.support.eventually import eventually
from tests.support.projector import CatchUp, PublishEnvelopes, checksums, fetch_jobs
from tests.support.stream import EXPECTED_STATUS, job_uuid, kind_of, recorded_stream

JOBS = 1500
KILLS = 2  # each restart waits out the dead member's 10 s session


def with_duplicates(stream: list[Envelope], seed: str) -> tuple[list[Envelope], int]:
    """Every 10th event delivered a second time, a little later (a producer retry)."""
    rng = random.Random(seed)
    out = list(stream)
    duplicates = stream[::10]
    for envelope in duplicates:
        at = out.index(envelope) + 1 + rng.randrange(0, 50)
        out.insert(min(at, len(out)), envelope)
    return out, len(duplicates)


class BatchSpy:
    """Sees, from a separate session, whether a projector session is inside a transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.since: datetime | None = None

    async def mark(self) -> None:
        """Only sessions opened from now on count (a killed process's backend may linger)."""
        self.since = await self.conn.fetchval("SELECT clock_timestamp()")

    async def in_transaction(self) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                " AND xact_start IS NOT NULL AND backend_start >= $1"
                # writing rows, not the start-up transaction that stores initial offsets
                " AND (query ILIKE '%copy%' OR query ILIKE '%jobs%')",
                self.since,
            )
        )

    async def applied(self) -> int:
        return int(
            await self.conn.fetchval("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets")
        )


async def test_killed_mid_batch_with_duplicates_equals_clean_rebuild(
    settings: Settings,
    endpoints: Endpoints,
    test_env: dict[str, str],
    publish_envelopes: PublishEnvelopes,
    catch_up: CatchUp,
    db_url: str,
    procs: Processes,
) -> None:
    seed = "rel"
    stream, duplicated = with_duplicates(recorded_stream(JOBS, seed=seed), seed)
    await publish_envelopes(stream)
    started = time.monotonic()
    kills_at: list[int] = []
    spy = BatchSpy(await asyncpg.connect(plain_url(db_url)))
    try:
        await spy.mark()
        projector = procs.start("projector", ["projector"], test_env)
        for _ in range(KILLS):
            # SIGKILL while the projector writes a batch's rows inside its transaction
            await eventually(
                spy.in_transaction, timeout=60, message="a batch transaction", interval=0.002
            )
            procs.kill(projector)
            kills_at.append(await spy.applied())
            await spy.mark()
            projector = procs.start("projector", ["projector"], test_env)
    finally:
        await spy.conn.close()
    await catch_up()
    elapsed = time.monotonic() - started
    survived = await checksums(db_url)
    assert survived["count"] == str(JOBS)
    jobs = await fetch_jobs(db_url)
    for n in range(0, JOBS, 97):
        assert jobs[job_uuid(seed, n)]["status"] == EXPECTED_STATUS[kind_of(n)]
    for job in jobs.values():
        assert len(set(job["applied_event_ids"])) == len(job["applied_event_ids"])
    procs.stop_all()
    await rebuild(settings, endpoints)
    assert await checksums(db_url) == survived
    print(
        f"\nprojector: {len(stream)} records ({duplicated} duplicates, {JOBS} interleaved jobs),"
        f" {len(kills_at)} SIGKILLs inside a batch transaction (applied offsets then: {kills_at}),"
        f" caught up in {elapsed:.1f}s;"
        f" read model == clean rebuild"
    )
    assert max(kills_at) < len(stream), "a kill landed after the end"
