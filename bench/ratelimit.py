"""Rate-limiter benchmark: what one check against the shared PostgreSQL buckets costs.

Starts the embedded PostgreSQL, migrates it, opens ingest's ``RateLimiter`` (its own asyncpg
pool) and times ``check`` calls: sequential on one key (a client hammering), sequential over
many keys (every request a new address: inserts), and ``--concurrency`` tasks at once (the
pool of 4 shared). Prints p50/p95 per check and checks per second. Every request to ingest
pays one check (its address), an authenticated one two (address and user). Then the same
ingest app (in-memory publisher, driven through ASGI: no socket) answers ``GET /health`` and
an authenticated ``GET /auth/me`` with the limits on and off (0), to show the cost per request.

    python bench/ratelimit.py --checks 5000 --concurrency 32 --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from services.cli.embedded import EmbeddedPostgres
from services.core.db.engine import migrate
from services.core.http.errors import ApiError
from services.core.runtime.settings import Settings
from services.ingest.app import create_app
from services.ingest.http.ratelimit import RateLimiter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.support
from tests.support.fakes import InMemoryPublisher


async def timed(limiter: RateLimiter, keys: list[str]) -> list[float]:
    took = []
    for key in keys:
        started = time.perf_counter()
        try:
            await limiter.check(key, 10**6)
        except ApiError:
            pass
        took.append(time.perf_counter() - started)
    return took


def line(name: str, took: list[float], wall: float) -> str:
    ordered = sorted(took)
    p95 = ordered[int(len(ordered) * 0.95)]
    return (
        f"{name:<34} p50 {statistics.median(took) * 1e6:7.0f} us   p95 {p95 * 1e6:7.0f} us"
        f"   {len(took) / wall:8.0f} checks/s"
    )


async def requests(db_url: str, root: Path, limits: str, n: int) -> list[str]:
    env = {
        "DATABASE_URL": db_url,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # not used: the in-memory publisher
        "STORAGE_URL": (root / "storage").as_uri(),
        "JWT_SECRET": "bench-" + uuid.uuid4().hex * 2,
        "VIDPIPE_DATA_DIR": str(root / "data"),
        "RATE_LIMIT_PER_MINUTE": limits,
        "USER_RATE_LIMIT_PER_MINUTE": limits,
        "AUTH_RATE_LIMIT_PER_MINUTE": "0",
        "REGISTRATION_PER_HOUR": "0",
    }
    app = create_app(Settings.from_env(env), publisher=InMemoryPublisher())
    lines = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
            name = f"bench{uuid.uuid4().hex[:8]}"
            body = {"username": name, "email": f"{name}@example.com", "password": "correct horse"}
            await client.post("/auth/register", json=body)
            login = {"username": name, "password": body["password"]}
            token = (await client.post("/auth/login", json=login)).json()["access_token"]
            for path, headers in (
                ("/health", {}),
                ("/auth/me", {"Authorization": f"Bearer {token}"}),
            ):
                for _ in range(100):
                    await client.get(path, headers=headers)
                took = []
                started = time.perf_counter()
                for _ in range(n):
                    begun = time.perf_counter()
                    await client.get(path, headers=headers)
                    took.append(time.perf_counter() - begun)
                state = "on" if limits != "0" else "off"
                lines.append(
                    line(f"GET {path}, limits {state}", took, time.perf_counter() - started)
                )
    return lines


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="vpb", dir="/tmp"))
    postgres = EmbeddedPostgres(root / "pg", database="bench")
    try:
        db_url = await asyncio.to_thread(postgres.start)
        await asyncio.to_thread(migrate, db_url)
        limiter = RateLimiter(1200, 600, 60)
        await limiter.open(db_url)
        try:
            await timed(limiter, ["warm"] * 200)
            n = args.checks
            for name, keys in (
                ("one key, sequential", ["addr:one"] * n),
                ("a new key each, sequential", [f"addr:{i}" for i in range(n)]),
            ):
                started = time.perf_counter()
                took = await timed(limiter, keys)
                print(line(name, took, time.perf_counter() - started))
            per_task = n // args.concurrency
            started = time.perf_counter()
            results = await asyncio.gather(
                *(timed(limiter, [f"user:{t % 8}"] * per_task) for t in range(args.concurrency))
            )
            took = [t for r in results for t in r]
            print(line(f"{args.concurrency} tasks, 8 keys", took, time.perf_counter() - started))
        finally:
            await limiter.close()
        for limits in ("0", "1000000", "0", "1000000"):  # alternating, twice
            for printed in await requests(db_url, root, limits, args.requests):
                print(printed.replace("checks/s", "requests/s"))
    finally:
        await asyncio.to_thread(postgres.stop)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
