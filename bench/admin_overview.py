"""Admin overview benchmark: what ``GET /admin/overview`` costs next to ``GET /jobs``.

Starts the embedded broker and PostgreSQL, fills ``jobs`` with N rows across the statuses,
serves ingest in this process (uvicorn on loopback), then times sequential requests of
``/admin/overview`` (read model + projector offsets + the broker's admin API, a fresh admin
client and consumer each time), ``/admin/users`` and ``GET /jobs?all=true&limit=100`` with
an admin token. Prints p50/p95 per endpoint, side by side.

    python bench/admin_overview.py --jobs 10000 --requests 30
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import uvicorn

from services.cli.embedded import EmbeddedBroker, EmbeddedPostgres
from services.core.access.tokens import issue_access_token
from services.core.db.engine import migrate, plain_url
from services.core.kafka.clients import ensure_topics, wait_for_broker
from services.core.runtime.process import free_port
from services.core.runtime.settings import Settings
from services.ingest.app import create_app

STATUSES = ("pending", "processing", "completed", "failed", "cancelled")


async def start_server(app: object) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    return server, task, f"http://127.0.0.1:{port}"


async def fill(db_url: str, n: int) -> None:
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        users = [str(uuid.uuid4()) for _ in range(50)]
        rows = [
            (
                str(uuid.uuid4()),
                users[i % len(users)],
                f"clip-{i}.mp4",
                f"sources/{i}/source",
                STATUSES[i % len(STATUSES)],
                f"w{i % 8}" if STATUSES[i % len(STATUSES)] == "processing" else None,
            )
            for i in range(n)
        ]
        await conn.executemany(
            "INSERT INTO jobs (id, user_id, original_filename, file_path, status, worker_id,"
            " completed_at) VALUES ($1, $2, $3, $4, $5::varchar, $6,"
            " CASE WHEN $5::varchar IN ('completed', 'failed')"
            " THEN now() - random() * interval '2 hours' END)",
            rows,
        )
    finally:
        await conn.close()


async def timed(client: httpx.AsyncClient, path: str, headers: dict[str, str], n: int) -> str:
    took = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(path, headers=headers)
        took.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    took.sort()
    p95 = took[min(len(took) - 1, int(len(took) * 0.95))]
    return f"{path:<32} p50 {statistics.median(took):7.1f} ms   p95 {p95:7.1f} ms"


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="vpb", dir="/tmp"))
    broker = EmbeddedBroker(free_port(), root / "kafka", log_path=root / "broker.log")
    postgres = EmbeddedPostgres(root / "pg", database="bench")
    try:
        bootstrap = await asyncio.to_thread(broker.start)
        db_url = await asyncio.to_thread(postgres.start)
        await wait_for_broker(bootstrap)
        await asyncio.to_thread(migrate, db_url)
        await ensure_topics(bootstrap)
        await fill(db_url, args.jobs)
        secret = "bench-" + uuid.uuid4().hex * 2
        settings = Settings.from_env(
            {
                "DATABASE_URL": db_url,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "JWT_SECRET": secret,
                "VIDPIPE_DATA_DIR": str(root / "data"),
                "LOG_LEVEL": "WARN",
                "USER_RATE_LIMIT_PER_MINUTE": "0",
                "RATE_LIMIT_PER_MINUTE": "0",
            }
        )
        server, task, base = await start_server(create_app(settings))
        admin = {
            "Authorization": "Bearer " + issue_access_token(secret, str(uuid.uuid4()), "admin")
        }
        try:
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                print(f"{args.jobs} jobs, {args.requests} sequential requests each", flush=True)
                for path in ("/admin/overview", "/admin/users", "/jobs?all=true&limit=100"):
                    await client.get(path, headers=admin)  # warm up
                    print(await timed(client, path, admin, args.requests), flush=True)
        finally:
            server.should_exit = True
            await task
    finally:
        postgres.stop()
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=30)
    asyncio.run(main(parser.parse_args()))
