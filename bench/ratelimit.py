"""Rate-limiter benchmark: what one check against the shared PostgreSQL buckets costs.

Starts the embedded PostgreSQL, migrates it, opens ingest's ``RateLimiter`` (its own asyncpg
pool) and times ``check`` calls: sequential on one key (a client hammering), sequential over
many keys (every request a new address: inserts), and ``--concurrency`` tasks at once (the
pool of 4 shared). Prints p50/p95 per check and checks per second. Every request to ingest
pays one check (its address), an authenticated one two (address and user).

    python bench/ratelimit.py --checks 5000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from services.cli.embedded import EmbeddedPostgres
from services.core.db.engine import migrate
from services.core.http.errors import ApiError
from services.ingest.http.ratelimit import RateLimiter


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
    finally:
        await asyncio.to_thread(postgres.stop)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    asyncio.run(main(parser.parse_args()))
