"""Storm mode of ``bench/sse_fanout.py``: N clients connected, the notifier restarted, all back.

The clients live in ``--client-procs`` worker processes (uvloop when installed) so the client
side is not what limits the rate. Each client follows one job and behaves like a browser's
EventSource: it keeps the last event id (applied when an event is dispatched, as the WHATWG
parser does, so an event cut in half is not counted as seen), honours ``retry:``, reconnects
with ``Last-Event-ID`` after ``retry`` ms (3 s, the browsers' default, until the server sends
one), and after a 503 waits ``Retry-After`` seconds (a fetch-based client). Progress ticks are
produced at ``--rate`` the whole time, also while no notifier runs; at the end every client
must hold every event of its job exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import signal
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
DEFAULT_RETRY_MS = 3000


@dataclass
class Client:
    job_id: str
    last_id: str | None = None
    retry_ms: int = DEFAULT_RETRY_MS
    connected_at: float = 0.0
    back_at: float = 0.0  # first 200 after the storm mark
    open: bool = False
    ids: list[str] = field(default_factory=list)


@dataclass
class Worker:
    port: int
    token: str
    clients: list[Client]
    mark: float = float("inf")
    latencies: list[tuple[float, float, bool]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    connects: int = 0


async def run_client(w: Worker, c: Client) -> None:
    """One EventSource-like client, forever (cancelled at the end)."""
    while True:
        wait_s = c.retry_ms / 1000
        try:
            reader, writer = await asyncio.open_connection(HOST, w.port)
        except OSError as exc:
            w.errors[f"connect: {exc.strerror or exc}"] += 1
            await asyncio.sleep(wait_s)
            continue
        try:
            head = f"GET /jobs/{c.job_id}/events HTTP/1.1\r\nHost: bench\r\n"
            head += f"Authorization: Bearer {w.token}\r\n"
            if c.last_id is not None:
                head += f"Last-Event-ID: {c.last_id}\r\n"
            writer.write(f"{head}\r\n".encode())
            status = await reader.readline()
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            if b" 200 " not in status:
                w.errors[f"status: {status.decode().strip()[:40]}"] += 1
                if "retry-after" in headers:
                    wait_s = float(headers["retry-after"])
                continue
            now = time.time()
            w.connects += 1
            c.connected_at, c.open = now, True
            if now >= w.mark and not c.back_at:
                c.back_at = now
            await read_events(w, c, reader)
            w.errors["closed by server"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            w.errors[f"read: {type(exc).__name__}"] += 1
        finally:
            c.open = False
            writer.close()
        await asyncio.sleep(c.retry_ms / 1000)


async def read_events(w: Worker, c: Client, reader: asyncio.StreamReader) -> None:
    pending_id: str | None = None
    data: bytes | None = None
    while line := await reader.readline():
        if line == b"\n":  # dispatch: the id applies even to an event without data
            if pending_id is not None:
                c.last_id = pending_id
            if data is not None:
                record(w, c, data)
            data = None
        elif line.startswith(b"data: "):
            data = line[6:]
        elif line.startswith(b"id: "):
            pending_id = line[4:].decode().rstrip("\n")
        elif line.startswith(b"retry: "):
            with contextlib.suppress(ValueError):
                c.retry_ms = int(line[7:])


def record(w: Worker, c: Client, raw: bytes) -> None:
    if b'"snapshot":true' in raw:
        return
    data = json.loads(raw)
    now = time.time()
    produced = datetime.fromisoformat(data["time"]).timestamp()
    c.ids.append(data["event_id"])
    w.latencies.append((produced, now, produced >= c.connected_at))


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def worker_main(
    conn: multiprocessing.connection.Connection, port: int, token: str, jobs: list[str]
) -> None:
    """A client process: obeys commands from the bench over ``conn``."""
    raise_fd_limit()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(worker_loop(conn, Worker(port, token, [Client(job) for job in jobs])))


async def worker_loop(conn: multiprocessing.connection.Connection, w: Worker) -> None:
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []
    while True:
        command, arg = await loop.run_in_executor(None, conn.recv)
        if command == "connect":  # open every stream, at most arg at a time
            gate = asyncio.Semaphore(arg)

            async def one(c: Client, gate: asyncio.Semaphore = gate) -> None:
                async with gate:
                    tasks.append(asyncio.create_task(run_client(w, c)))
                    while not c.open:
                        await asyncio.sleep(0.01)

            await asyncio.gather(*(one(c) for c in w.clients))
            conn.send(len(w.clients))
        elif command == "mark":  # the storm starts now: who is back from here on
            w.mark = arg
            for c in w.clients:
                c.back_at = 0.0
            conn.send(None)
        elif command == "status":
            backs = [c.back_at for c in w.clients if c.back_at]
            received = sum(len(c.ids) for c in w.clients)
            conn.send((len(backs), max(backs, default=0.0), min(backs, default=0.0), received))
        elif command == "report":
            ids = {c.job_id: c.ids for c in w.clients}
            conn.send((ids, w.latencies, dict(w.errors), w.connects))
            w.latencies = []
            w.errors.clear()
        elif command == "stop":
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            conn.send(None)
            return


COUNTERS = (
    "vidpipe_notifier_records_consumed_total",
    "vidpipe_notifier_replays_total",
    "vidpipe_notifier_replay_log_reads_total",
    "vidpipe_notifier_streams_refused_total",
)


def server_counters(ops_port: int) -> str:
    """The new notifier's own account of the storm (its Prometheus counters, on OPS_PORT)."""
    import urllib.request

    try:
        url = f"http://{HOST}:{ops_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError as exc:
        return f"metrics unavailable ({exc})"
    found = []
    for line in text.splitlines():
        if line.startswith(COUNTERS):
            name, _, value = line.rpartition(" ")
            found.append(f"{name.removeprefix('vidpipe_notifier_')}={float(value):.0f}")
    return ", ".join(found)


class Fleet:
    """The client processes, driven over pipes."""

    def __init__(self, port: int, token: str, jobs: list[str], procs: int) -> None:
        self.port = port
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.procs = []
        for i in range(procs):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(theirs, port, token, jobs[i::procs]))
            proc.start()
            self.pipes.append(mine)
            self.procs.append(proc)

    async def ask(self, command: str, arg: Any = None) -> list[Any]:
        for pipe in self.pipes:
            pipe.send((command, arg))
        return [await asyncio.to_thread(pipe.recv) for pipe in self.pipes]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ask("stop"), 30)
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def storm(
    label: str,
    fleet: Fleet,
    n: int,
    restart: Any,
    how: signal.Signals,
    timeout_s: float,
    ops_port: int,
) -> dict[str, Any]:
    """Send ``how`` to the notifier, start a new one, wait until all ``n`` clients are back."""
    t0 = time.time()
    await fleet.ask("mark", t0)
    serving_at = await restart(how)
    deadline = time.monotonic() + timeout_s
    back = last = first = 0.0
    while time.monotonic() < deadline:
        status = await fleet.ask("status")
        back = sum(s[0] for s in status)
        last = max(s[1] for s in status)
        firsts = [s[2] for s in status if s[2]]
        first = min(firsts) if firsts else 0.0
        if back >= n:
            break
        await asyncio.sleep(0.2)
    span = (last - first) if back > 1 else float("nan")
    counters = await asyncio.to_thread(server_counters, ops_port)
    result = {
        "label": label,
        "signal": how.name,
        "back": back,
        "all_back_s": (last - t0) if back >= n else float("nan"),
        "serving_s": serving_at - t0,
        "connects_per_s": back / span if span and span == span else float("nan"),
        "t0": t0,
        "t_end": last if back >= n else time.time(),
    }
    print(
        f"  [{label}] {how.name}: {back}/{n} back in "
        f"{result['all_back_s']:.2f}s after the signal (new notifier healthy after "
        f"{result['serving_s']:.2f}s); {result['connects_per_s']:.0f} connects/s; "
        f"server: {counters}",
        flush=True,
    )
    return result


async def run_storm(
    label: str,
    n: int,
    jobs: list[str],
    token: str,
    rate: float,
    start: Any,
    produce_forever: Any,
    args: Any,
) -> dict[str, Any]:
    """Connect ``n`` clients, restart the notifier with SIGTERM then SIGKILL, check exactness.

    ``start(port, ops_port, log_name)`` starts a notifier process and waits for its health;
    ``produce_forever(jobs, rate, sent)`` produces ticks, appending (job, event id) to ``sent``.
    """
    from services.core.runtime.process import free_port

    port, ops_port = free_port(), free_port()
    proc = await asyncio.to_thread(start, port, ops_port, f"{label}-0")
    fleet = Fleet(port, token, jobs[:n], args.client_procs)
    sent: list[tuple[str, str]] = []
    producer: asyncio.Task[None] | None = None
    results: list[dict[str, Any]] = []
    generation = 0

    async def restart(how: signal.Signals) -> float:
        nonlocal proc, generation
        sent = time.time()
        proc.send_signal(how)
        await asyncio.to_thread(proc.wait, 60)
        print(f"  [{label}] old notifier exited {time.time() - sent:.2f}s after {how.name}")
        generation += 1
        proc = await asyncio.to_thread(start, port, ops_port, f"{label}-{generation}")
        return time.time()

    try:
        started = time.monotonic()
        await fleet.ask("connect", args.ramp)
        connect_s = time.monotonic() - started
        print(
            f"  [{label}] {n} clients connected in {connect_s:.1f}s "
            f"({n / connect_s:.0f}/s, fresh connects with snapshot)",
            flush=True,
        )
        producer = asyncio.create_task(produce_forever(jobs[:n], rate, sent))
        await asyncio.sleep(args.settle)
        for how in (signal.SIGTERM, signal.SIGKILL):
            results.append(await storm(label, fleet, n, restart, how, args.storm_timeout, ops_port))
            await asyncio.sleep(args.settle)
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        producer = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            received = sum(s[3] for s in await fleet.ask("status"))
            if received >= len(sent):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)  # duplicates would arrive after the count is reached
        reports = await fleet.ask("report")
    finally:
        if producer is not None:
            producer.cancel()
        await fleet.close()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
    expected: dict[str, Counter[str]] = {}
    for job, event_id in sent:
        expected.setdefault(job, Counter())[event_id] += 1
    got: dict[str, Counter[str]] = {}
    latencies: list[tuple[float, float, bool]] = []
    errors: Counter[str] = Counter()
    for ids, lat, errs, _ in reports:
        for job, received_ids in ids.items():
            got[job] = Counter(received_ids)
        latencies.extend(lat)
        errors.update(errs)
    missed = sum(
        max(0, count - got.get(job, Counter())[eid])
        for job, counts in expected.items()
        for eid, count in counts.items()
    )
    duplicated = sum(max(0, count - 1) for counts in got.values() for count in counts.values())
    unexpected = sum(
        count
        for job, counts in got.items()
        for eid, count in counts.items()
        if eid not in expected.get(job, {})
    )
    for r in results:
        window = [
            rcv - prod for prod, rcv, live in latencies if live and r["t0"] <= prod <= r["t_end"]
        ]
        r["live_p99_ms"] = p99(window)
        r["live_events"] = len(window)
    steady = [rcv - prod for prod, rcv, live in latencies if live and prod < results[0]["t0"]]
    summary = {
        "label": label,
        "connect_s": connect_s,
        "sent": len(sent),
        "received": sum(sum(c.values()) for c in got.values()),
        "missed": missed,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "steady_p99_ms": p99(steady),
        "steady_p50_ms": statistics.median(steady) * 1000 if steady else float("nan"),
        "storms": results,
        "errors": dict(errors.most_common(6)),
    }
    return summary


def print_table(summaries: list[dict[str, Any]], n: int, rate: float) -> None:
    print(
        f"\nstorm: N={n}, {rate:.0f} events/s produced throughout "
        f"(load {' '.join(f'{x:.2f}' for x in os.getloadavg())})",
        flush=True,
    )
    head = (
        f"{'notifier':<10} {'signal':<8} {'back':>7} {'all back':>9} {'healthy':>8} "
        f"{'connects/s':>10} {'live p99':>9} {'sent':>6} {'missed':>6} {'dup':>4}"
    )
    print(head)
    for s in summaries:
        for r in s["storms"]:
            print(
                f"{s['label']:<10} {r['signal']:<8} {r['back']:>7} {r['all_back_s']:>8.2f}s "
                f"{r['serving_s']:>7.2f}s {r['connects_per_s']:>10.0f} "
                f"{r['live_p99_ms']:>7.0f}ms {s['sent']:>6} {s['missed']:>6} {s['duplicated']:>4}"
            )
    for s in summaries:
        print(
            f"{s['label']}: first connect of {n} took {s['connect_s']:.1f}s; steady live "
            f"p50 {s['steady_p50_ms']:.0f}ms p99 {s['steady_p99_ms']:.0f}ms; received "
            f"{s['received']} of {s['sent']} (unexpected {s['unexpected']}); client errors "
            f"{s['errors']}",
            flush=True,
        )


def pick(jobs: list[str]) -> str:
    return random.choice(jobs)


def note_path(root: Path, name: str) -> Path:
    return root / f"notifier-{name}.log"
