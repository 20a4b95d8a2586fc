"""Projector throughput: 200,000 lifecycle events for 20,000 jobs, from offset 0 to caught up.

    python bench/projector.py [--jobs 20000] [--stages 7] [--members 1 2] [--bootstrap HOST:PORT]

Starts its own embedded broker (or uses the Kafka-protocol broker at ``--bootstrap``, under a
topic prefix of its own) and PostgreSQL, and fills ``video.jobs`` once. Then, for each
``--members`` count, into a fresh database: starts that many ``vidpipe projector`` processes
(one consumer group) and times them from the moment the first is assigned partitions until
the stored offsets reach the end of the log. Then, in the same run, copies the resulting rows
into empty tables with a raw asyncpg ``COPY`` as the floor to compare with.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from schemas.envelope import Envelope, encode
from schemas.events import Event, JobCompleted, JobOutput, JobStarted, JobSubmitted, StageCompleted
from services.cli.embedded import EmbeddedBroker, EmbeddedPostgres
from services.cli.main import run_loop
from services.core.db.engine import migrate, plain_url
from services.core.kafka.clients import ensure_topics
from services.core.runtime.process import die_with_parent, free_port

STAGES = ("intake", "validate", "metadata", "transcode", "thumbnail", "preview", "package")
WAVE = 1000  # jobs in flight at once: their events interleave in the log as in production


def job_events(n: int, stages: int) -> list[Event]:
    job = str(uuid.UUID(int=n + 1))
    worker = f"transcoder-{n % 4}"
    events: list[Event] = [
        JobSubmitted(
            job_id=job,
            user_id=str(uuid.UUID(int=(n % 97) + 10**9)),
            original_filename=f"v{n}.mp4",
            source_key=f"sources/{job}/v{n}.mp4",
            source_size=10_000_000 + n,
            source_sha256="0" * 64,
            processing_options={"preset": f"web-{n % 3}"},
            source_metadata={"duration_s": 30.0, "width": 1920, "height": 1080},
        ),
        JobStarted(job_id=job, worker_id=worker, attempt=1),
    ]
    events += [
        StageCompleted(
            job_id=job,
            worker_id=worker,
            attempt=1,
            operation=STAGES[i % len(STAGES)],
            status="ok",
            duration_ms=100 + i,
            metadata={"i": i},
        )
        for i in range(stages)
    ]
    events.append(
        JobCompleted(
            job_id=job,
            worker_id=worker,
            attempt=1,
            duration_ms=5000,
            outputs=[
                JobOutput(
                    name="720p",
                    key=f"outputs/{job}/720p",
                    content_type="video/mp4",
                    size_bytes=2_000_000,
                )
            ],
        )
    )
    return events


def stream(jobs: int, stages: int) -> list[Envelope]:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    out: list[Envelope] = []
    for wave in range(0, jobs, WAVE):
        stories = [job_events(n, stages) for n in range(wave, min(wave + WAVE, jobs))]
        for step in range(max(len(s) for s in stories)):
            for story in stories:
                if step < len(story):
                    moment = t0 + timedelta(milliseconds=len(out))
                    out.append(Envelope(event=story[step], source="/bench", time=moment))
    return out


async def fill(bootstrap: str, prefix: str, envelopes: list[Envelope]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    started = time.perf_counter()
    try:
        futures = []
        for envelope in envelopes:
            r = encode(envelope)
            futures.append(
                await producer.send(
                    prefix + r.topic, key=r.key, value=r.value, headers=list(r.headers)
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def stored_total(conn: asyncpg.Connection) -> tuple[int, int]:
    row = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(next_offset), 0) AS s FROM projector_offsets"
    )
    return int(row["n"]), int(row["s"])


async def time_members(env: dict[str, str], db_url: str, members: int, total: int) -> float:
    """Run ``members`` projector processes until the stored offsets reach ``total``."""
    env = {**os.environ, **env, "DATABASE_URL": db_url}
    command = [sys.executable, "-m", "services.cli", "projector"]
    processes = [
        subprocess.Popen(command, env=env, preexec_fn=die_with_parent) for _ in range(members)
    ]
    conn = await asyncpg.connect(plain_url(db_url))

    def check() -> None:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a projector process exited")

    try:
        while (await stored_total(conn))[0] == 0:  # rows appear when partitions are assigned
            check()
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        while (await stored_total(conn))[1] < total:
            check()
            await asyncio.sleep(0.02)
        return time.perf_counter() - started
    finally:
        await conn.close()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


async def fresh_database(postgres: EmbeddedPostgres, name: str) -> str:
    url = await asyncio.to_thread(postgres.database_url, name)  # asyncio.run inside: a thread
    await asyncio.to_thread(migrate, url)
    return url


async def checksum(db_url: str) -> str:
    """md5 of every row of the read model, in a fixed order."""
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        sums = [
            await conn.fetchval(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM {table} t"
            )
            for table in ("jobs", "processing_history")
        ]
        return "/".join(sums)
    finally:
        await conn.close()


async def raw_copy(db_url: str) -> tuple[float, int]:
    """COPY the projected rows into empty twins of the tables: the bulk-insert floor."""
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        jobs = await conn.fetch("SELECT * FROM jobs")
        history = await conn.fetch("SELECT * FROM processing_history")
        await conn.execute("CREATE TABLE raw_jobs (LIKE jobs INCLUDING ALL)")
        await conn.execute("CREATE TABLE raw_history (LIKE processing_history INCLUDING ALL)")
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("raw_jobs", records=[tuple(r) for r in jobs])
            await conn.copy_records_to_table("raw_history", records=[tuple(r) for r in history])
        return time.perf_counter() - started, len(jobs) + len(history)
    finally:
        await conn.close()


async def main(jobs: int, stages: int, members: list[int], external: str | None) -> None:
    root = Path(tempfile.mkdtemp(prefix="vpb", dir="/tmp"))
    broker = EmbeddedBroker(free_port(), root / "kafka", log_path=root / "broker.log")
    postgres = EmbeddedPostgres(root / "pg", database="bench")
    try:
        bootstrap = external or broker.start()
        await asyncio.to_thread(postgres.start)
        prefix = f"bench{uuid.uuid4().hex[:8]}."  # a shared external broker keeps older runs
        await ensure_topics(bootstrap, topic_prefix=prefix)
        envelopes = stream(jobs, stages)
        print(f"events: {len(envelopes)} for {jobs} jobs ({len(envelopes) / jobs:.0f} per job)")
        print(f"produce: {await fill(bootstrap, prefix, envelopes):.1f}s")
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC_PREFIX": prefix,
            "VIDPIPE_DATA_DIR": str(root),
            "OPS_PORT": "0",
            "LOG_LEVEL": "WARN",
        }
        databases = []
        for count in members:
            databases.append(await fresh_database(postgres, f"bench_{count}_members"))
            seconds = await time_members(env, databases[-1], count, len(envelopes))
            print(
                f"projector, {count} process{'es' if count > 1 else ''}: {seconds:.2f}s from "
                f"offset 0 to caught up = {len(envelopes) / seconds:,.0f} events/s"
            )
        sums = {await checksum(url) for url in databases}
        print(f"tables identical across runs: {'yes' if len(sums) == 1 else 'NO'}")
        copy_s, rows = await raw_copy(databases[0])
        print(
            f"raw asyncpg COPY of the resulting {rows} rows: {copy_s:.2f}s = "
            f"{len(envelopes) / copy_s:,.0f} events/s equivalent"
        )
    finally:
        postgres.stop()
        broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--stages", type=int, default=7)
    parser.add_argument(
        "--members", type=int, nargs="+", default=[1, 2], help="projector processes per run"
    )
    parser.add_argument(
        "--bootstrap", help="an already running Kafka-protocol broker instead of the embedded one"
    )
    args = parser.parse_args()
    # the event loop the services run on
    run_loop(main(args.jobs, args.stages, args.members, args.bootstrap))
