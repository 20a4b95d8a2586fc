"""SSE fan-out benchmark: N concurrent streams against one notifier process.

Starts the embedded broker and PostgreSQL, one ``vidpipe notifier`` subprocess, then for each
N opens N streams (``GET /jobs/{id}/events``, one job each, a raw asyncio client per stream)
and produces progress ticks at a steady rate to random followed jobs. Prints the connections
held, p50/p99 produce-to-receive latency (``ce_time`` to the client reading the event) and the
server's RSS per connection. Stops a step at the first N the machine cannot hold.

    python bench/sse_fanout.py --connections 1000 10000 --rate 200 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import psutil

from schemas.envelope import new_envelope
from schemas.events import JobProgress
from services.cli.embedded import EmbeddedBroker, EmbeddedPostgres, child_env
from services.core.db import migrate, plain_url
from services.core.kafka import KafkaEventPublisher, ensure_topics, wait_for_broker
from services.core.process import free_port
from services.core.tokens import issue_access_token

HOST = "127.0.0.1"


@dataclass
class Clients:
    """What the client side saw."""

    held: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    received: int = 0


def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


async def insert_jobs(db_url: str, user_id: str, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        await conn.copy_records_to_table(
            "jobs",
            records=[(i, user_id, "a.mp4", f"sources/{i}/s", "processing") for i in ids],
            columns=["id", "user_id", "original_filename", "file_path", "status"],
        )
    finally:
        await conn.close()
    return ids


async def follow(
    port: int, job_id: str, token: str, clients: Clients, ready: asyncio.Event
) -> None:
    """One SSE client: send the request, then read events until cancelled."""
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError as exc:
        clients.errors[f"connect: {exc.strerror or exc}"] += 1
        return
    try:
        head = f"GET /jobs/{job_id}/events HTTP/1.1\r\nHost: bench\r\n"
        writer.write(f"{head}Authorization: Bearer {token}\r\n\r\n".encode())
        status = await reader.readline()
        if b" 200 " not in status:
            clients.errors[f"status: {status.decode().strip()}"] += 1
            return
        held = False
        while line := await reader.readline():
            if not line.startswith(b"data: "):
                continue
            data = json.loads(line[6:])
            if data.get("snapshot"):
                held = True
                clients.held += 1
                ready.set()
                continue
            clients.received += 1
            produced = datetime.fromisoformat(data["time"]).timestamp()
            clients.latencies.append(time.time() - produced)
        clients.errors["closed by server"] += 1
        if held:
            clients.held -= 1
    except (OSError, asyncio.IncompleteReadError) as exc:
        clients.errors[f"read: {type(exc).__name__}"] += 1
    finally:
        writer.close()


async def produce(
    publisher: KafkaEventPublisher, jobs: list[str], rate: float, duration: float
) -> int:
    """Progress ticks at a steady ``rate`` per second to random followed jobs."""
    start = time.monotonic()
    sent, pending = 0, set()
    while (elapsed := time.monotonic() - start) < duration:
        due = int(elapsed * rate) + 1
        for _ in range(due - sent):
            event = JobProgress(
                job_id=random.choice(jobs), attempt=1, progress=sent % 100, stage="transcode"
            )
            task = asyncio.create_task(publisher.publish(new_envelope(event, source="/bench")))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.sleep(max(0.0, (sent / rate) - (time.monotonic() - start)))
    await asyncio.gather(*pending)
    return sent


def start_notifier(
    env: dict[str, str], port: int, ops_port: int, log: Path
) -> subprocess.Popen[bytes]:
    process_env = child_env(**env, PORT=str(port), OPS_PORT=str(ops_port), LOG_LEVEL="WARN")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "notifier"],
            env=process_env,
            stdout=out,
            stderr=out,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://{HOST}:{ops_port}/health", timeout=1) as response:
                if response.status == 200:
                    return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"notifier did not start; see {log}")


async def run_step(
    args: argparse.Namespace,
    n: int,
    env: dict[str, str],
    jobs: list[str],
    token: str,
    publisher: KafkaEventPublisher,
    logs: Path,
) -> bool:
    port, ops_port = free_port(), free_port()
    proc = start_notifier(env, port, ops_port, logs / f"notifier-{n}.log")
    server = psutil.Process(proc.pid)
    baseline = server.memory_info().rss
    clients, ready = Clients(), asyncio.Event()
    gate = asyncio.Semaphore(args.ramp)
    tasks: list[asyncio.Task[None]] = []
    started = time.monotonic()

    async def open_one(job_id: str) -> None:
        async with gate:
            task = asyncio.create_task(follow(port, job_id, token, clients, ready))
            tasks.append(task)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    while clients.held + sum(clients.errors.values()) < len(tasks):
                        await asyncio.sleep(0.005)

    await asyncio.gather(*(open_one(job) for job in jobs[:n]))
    connect_s = time.monotonic() - started
    held_before = clients.held
    rss_connected = server.memory_info().rss
    sent = await produce(publisher, jobs[:n], args.rate, args.duration)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):  # let the last events arrive
            while clients.received < sent and clients.held:
                await asyncio.sleep(0.05)
    rss_end = server.memory_info().rss
    report(n, clients, held_before, sent, connect_s, baseline, rss_connected, rss_end)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    proc.terminate()
    proc.wait(30)
    return held_before == n and not clients.errors


def report(
    n: int,
    clients: Clients,
    held: int,
    sent: int,
    connect_s: float,
    baseline: int,
    connected: int,
    end: int,
) -> None:
    lat = sorted(clients.latencies)
    p50 = statistics.median(lat) * 1000 if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
    per_conn = (connected - baseline) / max(held, 1) / 1024
    print(
        f"N={n:>6}  held={held:>6} (still {clients.held} at end)  connect {connect_s:5.1f}s  "
        f"events sent={sent} received={clients.received}  "
        f"latency p50={p50:.1f}ms p99={p99:.1f}ms  "
        f"server RSS baseline={baseline / 2**20:.0f}MiB connected={connected / 2**20:.0f}MiB "
        f"end={end / 2**20:.0f}MiB  per connection={per_conn:.1f}KiB  "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    if clients.errors:
        print(f"          errors: {dict(clients.errors.most_common(5))}", flush=True)


async def main(args: argparse.Namespace) -> None:
    limit = raise_fd_limit(max(args.connections) * 2 + 1000)  # the server inherits it too
    print(
        f"open-files limit {limit}; cpus {os.cpu_count()}; rate {args.rate}/s for {args.duration}s",
        flush=True,
    )
    root = Path(tempfile.mkdtemp(prefix="vpb", dir="/tmp"))
    broker = EmbeddedBroker(free_port(), root / "kafka", log_path=root / "broker.log")
    postgres = EmbeddedPostgres(root / "pg", database="bench")
    try:
        bootstrap = args.bootstrap or await asyncio.to_thread(broker.start)
        db_url = await asyncio.to_thread(postgres.start)
        await wait_for_broker(bootstrap)
        await asyncio.to_thread(migrate, db_url)
        await ensure_topics(bootstrap)
        secret = "bench-" + uuid.uuid4().hex * 2
        user = str(uuid.uuid4())
        jobs = await insert_jobs(db_url, user, max(args.connections))
        token = issue_access_token(secret, user, "user", ttl_s=24 * 3600)
        env = {
            "DATABASE_URL": db_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "JWT_SECRET": secret,
            "VIDPIPE_DATA_DIR": str(root / "data"),
        }
        publisher = KafkaEventPublisher(bootstrap)
        await publisher.start()
        try:
            for n in sorted(args.connections):
                if not await run_step(args, n, env, jobs, token, publisher, root):
                    print(f"stopped at N={n}: not every connection was held", flush=True)
                    break
        finally:
            await publisher.stop()
    finally:
        postgres.stop()
        broker.stop()
        if args.keep:
            print(f"kept broker, PostgreSQL and notifier logs in {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds of producing per step"
    )
    parser.add_argument("--ramp", type=int, default=200, help="connections opening at once")
    parser.add_argument("--keep", action="store_true", help="keep the data and logs directory")
    parser.add_argument(
        "--bootstrap", help="an already running Kafka-protocol broker instead of the embedded one"
    )
    asyncio.run(main(parser.parse_args()))
