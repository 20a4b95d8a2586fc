"""Load: 200 jobs uploaded in a burst by 20 concurrent clients to 3 transcoder processes. All
reach a terminal state, the read model agrees with the log, and the rate is printed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.reliability.harness import Processes, all_terminal, fetch, fold, healthy
from tests.support.eventually import eventually
from tests.support.ingest import Api, bearer
from tests.support.transcoder import watch_log

JOBS = 200
CLIENTS = 20
WORKERS = 3
OPTIONS = json.dumps({"preset": "h264-480p"})
TERMINAL = ("completed", "failed", "cancelled")


async def test_burst_of_200_jobs(
    ingest: Api, procs: Processes, test_env: dict[str, str], clips: Callable[..., Path]
) -> None:
    clip = clips(seconds=0.5).read_bytes()
    procs.start("projector", ["projector"], test_env)
    workers = [
        procs.start(
            "transcoder", ["transcoder", "--retry-delay", "0.5"], {**test_env, "WORKER_COUNT": "1"}
        )
        for _ in range(WORKERS)
    ]
    for worker in workers:
        await eventually(lambda w=worker: healthy(w), timeout=30, message="transcoder up")
    ids: list[str] = []
    upload_s: list[float] = []

    async def client(n: int) -> None:
        headers = bearer(ingest, str(uuid.uuid4()))
        for k in range(JOBS // CLIENTS):
            begun = time.monotonic()
            response = await ingest.upload(headers, (f"c{n}-{k}.mp4", clip), options=OPTIONS)
            upload_s.append(time.monotonic() - begun)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])

    started = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    submitted_s = time.monotonic() - started
    db = test_env["DATABASE_URL"]
    await eventually(
        lambda: all_terminal(db, ids, TERMINAL),
        timeout=420,
        message="every job terminal",
        interval=0.5,
    )
    elapsed = time.monotonic() - started
    assert len(set(ids)) == JOBS
    rows = {str(r["id"]): r for r in await fetch(db, "SELECT * FROM jobs")}
    async with watch_log(
        test_env["KAFKA_BOOTSTRAP_SERVERS"], test_env["KAFKA_TOPIC_PREFIX"]
    ) as log:
        await log.wait(lambda: all(log.types(j) and log.types(j)[-1] in TERMINAL for j in ids), 60)
        for job_id in ids:
            state, completions = fold(log.of(job_id, topic="jobs"))
            row = rows[job_id]
            assert state is not None and row["status"] == state.status, log.summary(job_id)
            assert row["attempts"] == state.attempt and row["progress"] == state.progress
            assert len(completions) == (row["status"] == "completed")
    statuses = {s: sum(r["status"] == s for r in rows.values()) for s in TERMINAL}
    upload_s.sort()
    rate = JOBS / elapsed * 60
    print(
        f"\nload: {JOBS} jobs from {CLIENTS} clients in {submitted_s:.1f}s"
        f" (upload p50 {upload_s[len(upload_s) // 2] * 1000:.0f} ms,"
        f" p99 {upload_s[int(len(upload_s) * 0.99)] * 1000:.0f} ms);"
        f" all terminal after {elapsed:.0f}s with {WORKERS} workers:"
        f" {rate:.0f} jobs/min; {statuses}"
    )
    assert statuses["completed"] == JOBS
    for worker in workers:
        assert worker.alive()
