"""Probe latency: the in-process PyAV probe (what ingest did before) against the child-process
pool ingest uses now, on the same files, one at a time and N at once.

    python bench/probe.py [--files 40] [--size 1280x720] [--concurrency 2]

Prints the median per-file latency of each, the pool's overhead per file (one JSON line each
way to a warm child), and the first probe's cost when the children start cold.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from services.core.media.probe import probe
from services.ingest.adapters.probe_pool import ProbePool, ProbeResources

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.support
from tests.support.media import make_video


async def timed_in_process(path: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await asyncio.to_thread(probe, path)
        times.append(time.perf_counter() - start)
    return times


async def timed_pool(pool: ProbePool, path: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await pool.probe(path)
        times.append(time.perf_counter() - start)
    return times


async def batch(pool: ProbePool | None, path: str, files: int) -> float:
    start = time.perf_counter()
    if pool is None:
        await asyncio.gather(*(asyncio.to_thread(probe, path) for _ in range(files)))
    else:
        await asyncio.gather(*(pool.probe(path) for _ in range(files)))
    return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(make_video(Path(tmp) / "clip.mp4", seconds=2, size=args.size))
        probe(path)  # warm the page cache and this process's PyAV
        resources = ProbeResources(concurrency=args.concurrency)
        cold = ProbePool(resources)
        start = time.perf_counter()
        await cold.probe(path)
        first = time.perf_counter() - start
        await cold.close()
        pool = ProbePool(resources)
        await pool.start()
        await pool.probe(path)  # both children warm
        await pool.probe(path)
        inline = statistics.median(await timed_in_process(path, args.files))
        isolated = statistics.median(await timed_pool(pool, path, args.files))
        inline_batch = await batch(None, path, args.files)
        pool_batch = await batch(pool, path, args.files)
        await pool.close()
    print(f"{args.files} probes of a {args.size} clip, median per file:")
    print(f"  in process (to_thread): {inline * 1000:7.1f} ms")
    print(f"  child pool (warm):      {isolated * 1000:7.1f} ms")
    print(f"  overhead per file:      {(isolated - inline) * 1000:7.1f} ms")
    print(f"  first probe, cold pool: {first * 1000:7.1f} ms (the children start with ingest)")
    print(f"{args.files} at once: in process {inline_batch:.2f} s, pool {pool_batch:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
