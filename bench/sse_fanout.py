"""SSE fan-out benchmark: N concurrent streams against one notifier process.

Starts the embedded broker and PostgreSQL, one ``vidpipe notifier`` subprocess, then for each
N opens N streams (``GET /jobs/{id}/events``, one job each, a raw asyncio client per stream)
and produces progress ticks at a steady rate to random followed jobs. Prints the connections
held, p50/p99 produce-to-receive latency (``ce_time`` to the client reading the event) and the
server's RSS per connection. Stops a step at the first N the machine cannot hold.

    python bench/sse_fanout.py --connections 1000 10000 --rate 200 --duration 20

Storm mode (``--storm``, see ``bench/sse_storm.py``): max(--connections) clients connected,
the notifier restarted with SIGTERM, then with SIGKILL, every client reconnecting with
``Last-Event-ID``; prints the time until all are back, connects/s, events missed or
duplicated and the live p99 during each storm. ``--notifier-src [LABEL=]DIR`` (repeatable)
runs the notifier of another checkout, so old and new are measured in one sitting:

    python bench/sse_fanout.py --storm --connections 10000 --rate 200 \
        --notifier-src before=/work/wt/storm-before --notifier-src after=.
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
from services.core.access.tokens import issue_access_token
from services.core.db.engine import migrate, plain_url
from services.core.kafka.clients import KafkaEventPublisher, ensure_topics, wait_for_broker
from services.core.runtime.process import free_port

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sse_storm  # (beside this file; its clients run in their own processes)

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


def spawn_notifier(
    env: dict[str, str], port: int, ops_port: int, log: Path, src: Path | None = None
) -> subprocess.Popen[bytes]:
    """A ``vidpipe notifier`` process; ``src``: run the code of that checkout instead."""
    extra = {"PYTHONPATH": str(src)} if src is not None else {}
    # every bench client is one user on one address: the per-user and per-address caps off
    caps = {"NOTIFIER_MAX_STREAMS_PER_USER": "0", "NOTIFIER_MAX_STREAMS_PER_ADDRESS": "0"}
    process_env = child_env(
        **env, **extra, **caps, PORT=str(port), OPS_PORT=str(ops_port), LOG_LEVEL="WARN"
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "notifier"],
            env=process_env,
            stdout=out,
            stderr=out,
            cwd=src,
        )


def healthy(ops_port: int) -> bool:
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(f"http://{HOST}:{ops_port}/health", timeout=1) as response:
            return bool(response.status == 200)
    return False


def start_notifier(
    env: dict[str, str], port: int, ops_port: int, log: Path, src: Path | None = None
) -> subprocess.Popen[bytes]:
    proc = spawn_notifier(env, port, ops_port, log, src)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if healthy(ops_port):
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


async def produce_forever(
    publisher: KafkaEventPublisher, jobs: list[str], rate: float, sent: list[tuple[str, str]]
) -> None:
    """Ticks at ``rate``/s until cancelled; ``sent`` gets (job, event id) once acknowledged."""
    pending: set[asyncio.Task[None]] = set()

    async def one(job: str, number: int) -> None:
        event = JobProgress(job_id=job, attempt=1, progress=number % 100, stage="transcode")
        envelope = new_envelope(event, source="/bench")
        await publisher.publish(envelope)
        sent.append((job, envelope.id))

    start, count = time.monotonic(), 0
    try:
        while True:
            due = int((time.monotonic() - start) * rate) + 1
            for _ in range(due - count):
                task = asyncio.create_task(one(random.choice(jobs), count))
                pending.add(task)
                task.add_done_callback(pending.discard)
                count += 1
            await asyncio.sleep(max(0.0, (count / rate) - (time.monotonic() - start)))
    finally:
        await asyncio.gather(*pending, return_exceptions=True)


def profile(pid: int, out: Path, seconds: float) -> None:
    """Sample ``pid`` with py-spy (collapsed stacks) in the background, if py-spy is there."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    command += ["--format", "raw", "--nonblocking", "-o", str(out)]
    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def storms(
    args: argparse.Namespace,
    env: dict[str, str],
    jobs: list[str],
    token: str,
    publisher: KafkaEventPublisher,
    root: Path,
) -> None:
    """Storm mode: each ``--notifier-src`` (default: this checkout) in turn, same clients."""
    sources = args.notifier_src or ["this=" + str(Path(__file__).resolve().parents[1])]
    n = max(args.connections)
    summaries = []
    for spec in sources:
        label, _, directory = spec.rpartition("=")
        src = Path(directory).resolve()
        label = label or src.name

        def start(port: int, ops_port: int, name: str, src: Path = src) -> subprocess.Popen[bytes]:
            proc = spawn_notifier(env, port, ops_port, root / f"notifier-{name}.log", src)
            if args.profile:  # py-spy from the first moment: start-up and the storm
                profile(proc.pid, Path(args.profile) / f"{name}.txt", args.profile_s)
            deadline = time.monotonic() + 30
            while not healthy(ops_port):
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    raise RuntimeError(f"notifier did not start; see {root}")
                time.sleep(0.05)
            return proc

        async def produce_ticks(js: list[str], rate: float, sent: list[tuple[str, str]]) -> None:
            await produce_forever(publisher, js, rate, sent)

        print(f"storm against {label} ({src})", flush=True)
        summaries.append(
            await sse_storm.run_storm(label, n, jobs, token, args.rate, start, produce_ticks, args)
        )
    sse_storm.print_table(summaries, n, args.rate)


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
            if args.storm:
                await storms(args, env, jobs, token, publisher, root)
            for n in sorted(args.connections) if not args.storm else ():
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
    storm = parser.add_argument_group("storm mode")
    storm.add_argument(
        "--storm", action="store_true", help="restart the notifier under max(--connections)"
    )
    storm.add_argument(
        "--notifier-src",
        action="append",
        metavar="[LABEL=]DIR",
        help="run the notifier from this checkout (repeat to compare in one sitting)",
    )
    storm.add_argument("--profile", metavar="DIR", help="py-spy every notifier into DIR")
    storm.add_argument("--profile-s", type=float, default=20.0, help="seconds per profile")
    storm.add_argument("--client-procs", type=int, default=2, help="client processes")
    storm.add_argument("--settle", type=float, default=5.0, help="seconds between storms")
    storm.add_argument(
        "--storm-timeout", type=float, default=180.0, help="give up waiting for all after this"
    )
    asyncio.run(main(parser.parse_args()))
