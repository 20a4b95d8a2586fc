"""Worker loss: three transcoder processes, 60 jobs, one process SIGKILLed and restarted
again and again. Every job ends completed exactly once, with a valid output, none stuck."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pytest

from services.core.media.probe import probe
from tests.reliability.harness import (
    Processes,
    Service,
    all_terminal,
    fetch,
    fold,
    gather_limited,
    health,
    healthy,
)
from tests.support.eventually import eventually
from tests.support.ingest import Api, bearer
from tests.support.transcoder import watch_log

JOBS = 60
KILLS = 6
OPTIONS = json.dumps({"preset": "h264-480p"})
FLAGS = ["--session-timeout-ms", "3000", "--retry-delay", "0.2", "--rebalance-grace", "5"]


def start_transcoder(procs: Processes, env: dict[str, str], max_attempts: int) -> Service:
    flags = [*FLAGS, "--max-attempts", str(max_attempts), "--grace-period", "5"]
    return procs.start("transcoder", ["transcoder", *flags], {**env, "WORKER_COUNT": "1"})


async def test_sigkill_a_worker_every_few_seconds(
    ingest: Api,
    procs: Processes,
    test_env: dict[str, str],
    clips: Callable[..., Path],
) -> None:
    started = time.monotonic()
    clip = clips(seconds=0.6).read_bytes()
    procs.start("projector", ["projector"], test_env)
    # a job can lose its worker several times in a row; the retry budget is not what is tested
    workers = [start_transcoder(procs, test_env, 8) for _ in range(3)]
    for worker in workers:
        await eventually(lambda w=worker: healthy(w), timeout=30, message="transcoder up")
    headers = bearer(ingest, str(uuid.uuid4()))

    async def submit(n: int) -> str:
        response = await ingest.upload(headers, (f"clip{n}.mp4", clip), options=OPTIONS)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    ids = list(await gather_limited(6, [submit(n) for n in range(JOBS)]))
    db = test_env["DATABASE_URL"]
    kills = 0
    async with watch_log(
        test_env["KAFKA_BOOTSTRAP_SERVERS"], test_env["KAFKA_TOPIC_PREFIX"]
    ) as log:

        def busy_victim() -> Service | None:
            """A live worker in the middle of a job (its last started job has no outcome)."""
            for worker in workers:
                for job_id in ids:
                    types = log.types(job_id)
                    if not types or types[-1] in ("completed", "failed"):
                        continue
                    starts = log.of(job_id, "video.job.started", topic="jobs")
                    if starts and f":{worker.pid}/" in starts[-1].event.worker_id:  # type: ignore[attr-defined]
                        return worker
            return None

        while kills < KILLS and not await all_terminal(db, ids, ("completed", "failed")):
            victim = await eventually(busy_victim, timeout=60, message="a worker busy with a job")
            procs.kill(victim)
            kills += 1
            workers[workers.index(victim)] = fresh = start_transcoder(procs, test_env, 8)
            await eventually(
                lambda w=fresh: healthy(w), timeout=30, message="restarted transcoder up"
            )
            # the next kill waits until the new member holds partitions (the group settled)
            await eventually(
                lambda w=fresh: _has_partitions(w),
                timeout=60,
                message="restarted transcoder assigned",
            )
        await eventually(
            lambda: all_terminal(db, ids, ("completed", "failed")),
            timeout=180,
            message="all jobs done",
        )
        elapsed = time.monotonic() - started
        rows = {
            str(r["id"]): r
            for r in await fetch(db, "SELECT * FROM jobs WHERE id::text = ANY($1)", ids)
        }
        assert {r["status"] for r in rows.values()} == {"completed"}, {
            i: log.summary(i) for i, r in rows.items() if r["status"] != "completed"
        }
        root = Path(urlparse(ingest.settings.storage_url).path)
        redone = 0
        for job_id in ids:
            await eventually(
                lambda j=job_id: "completed" in log.types(j), timeout=30, message="log caught up"
            )
            state, completions = fold(log.of(job_id, topic="jobs"))
            assert len(completions) == 1, log.summary(job_id)
            assert state is not None and state.status == "completed"
            row = rows[job_id]
            assert row["attempts"] == completions[0].attempt
            assert row["output_path"] == completions[0].outputs[0].key
            info = probe(str(root / completions[0].outputs[0].key))
            assert (info.width, info.height, info.video_codec) == (160, 120, "h264")
            assert info.duration_s == pytest.approx(0.6, abs=0.15)
            redone += any("worker_lost" in line for line in log.summary(job_id))
        history = await fetch(
            db,
            "SELECT job_id::text, count(*) AS n FROM processing_history "
            "WHERE operation = 'completed' GROUP BY job_id",
        )
        assert {r["job_id"]: r["n"] for r in history} == dict.fromkeys(ids, 1)
    attempts = [rows[j]["attempts"] for j in ids]
    print(
        f"\nworker loss: {JOBS} jobs, {kills} SIGKILLs, {redone} jobs redone after a lost worker,"
        f" max attempts {max(attempts)}, all completed once in {elapsed:.0f}s"
    )
    assert kills >= 3 and redone >= 1


async def _has_partitions(worker: Service) -> bool:
    return bool((await health(worker)).get("partitions"))
