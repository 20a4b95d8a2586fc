"""Notifier restarted (SIGTERM, then SIGKILL) while events keep coming: a client that resumes
with ``Last-Event-ID`` gets every event exactly once, in order per job."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid

import httpx

from schemas.envelope import new_envelope
from schemas.events import JobProgress, JobStarted, StageCompleted
from services.core.access.tokens import issue_access_token
from services.core.kafka.clients import KafkaEventPublisher
from services.core.runtime.process import free_port
from tests.reliability.harness import Processes, Service
from tests.support.eventually import eventually
from tests.support.notifier import SseEvent, insert_job, sse

JOBS = 3
TICKS = 40  # per job; plus one started and every 10th tick a stage_completed


def label(event: SseEvent) -> tuple[str, str]:
    data = event.data
    if event.event == "progress_update":
        return data["job_id"], f"p{data['progress']}"
    if data.get("type", "").endswith("stage_completed"):
        return data["job_id"], f"s{data['data']['duration_ms']}"
    return data["job_id"], str(data.get("type", event.event)).rpartition(".")[2]


def script(job: str) -> list[tuple[object, tuple[str, str]]]:
    """The events of one job and the label each must arrive as."""
    out: list[tuple[object, tuple[str, str]]] = [
        (JobStarted(job_id=job, worker_id="w", attempt=1), (job, "started"))
    ]
    for n in range(1, TICKS + 1):
        out.append(
            (JobProgress(job_id=job, attempt=1, progress=n, stage="transcode"), (job, f"p{n}"))
        )
        if n % 10 == 0:
            stage = StageCompleted(
                job_id=job, worker_id="w", attempt=1, operation="x", status="ok", duration_ms=n
            )
            out.append((stage, (job, f"s{n}")))
    return out


async def test_resume_through_restarts_loses_nothing(
    procs: Processes, test_env: dict[str, str], db_url: str
) -> None:
    user = str(uuid.uuid4())
    jobs = [await insert_job(db_url, user, status="pending") for _ in range(JOBS)]
    scripts = [script(j) for j in jobs]
    # interleave the jobs, as a busy system would
    plan = [step for group in zip(*scripts, strict=True) for step in group]
    expected = {j: [lbl for _e, lbl in s] for j, s in zip(jobs, scripts, strict=True)}
    port = free_port()
    env = {**test_env, "PORT": str(port)}
    base = f"http://127.0.0.1:{port}"

    def start() -> Service:
        return procs.start("notifier", ["notifier"], env)

    async def up() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(f"{base}/notifier/health")).status_code == 200
        except httpx.HTTPError:
            return False

    notifier = start()
    await eventually(up, timeout=30, message="notifier up")
    token = issue_access_token(test_env["JWT_SECRET"], user, "user")
    publisher = KafkaEventPublisher(
        test_env["KAFKA_BOOTSTRAP_SERVERS"], topic_prefix=test_env["KAFKA_TOPIC_PREFIX"]
    )
    await publisher.start()
    received: list[SseEvent] = []
    last_id: str | None = None
    reconnects = 0

    async def produce(steps: list[tuple[object, tuple[str, str]]]) -> None:
        for event, _label in steps:
            await publisher.publish(new_envelope(event, source="/test"))  # type: ignore[arg-type]

    async def read(http: httpx.AsyncClient, until_count: int) -> None:
        """Read (resuming after a cut) until ``until_count`` live events arrived."""
        nonlocal last_id, reconnects
        while len(received) < until_count:
            try:
                async with sse(http, f"{base}/events", token=token, last_id=last_id) as stream:
                    while len(received) < until_count:
                        event = await stream.next(20)
                        if event.data.get("snapshot"):
                            assert last_id is None, "a resumed stream starts with a snapshot"
                            continue
                        received.append(event)
                        last_id = event.id
            except (httpx.HTTPError, EOFError, AssertionError) as exc:
                if isinstance(exc, AssertionError) and "snapshot" in str(exc):
                    raise
                reconnects += 1
                await eventually(up, timeout=30, message="notifier back")

    total = len(plan)
    fifth = total // 5
    chunks = [plan[i * fifth : (i + 1) * fifth] for i in range(4)] + [plan[4 * fifth :]]
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=30.0)) as http:
        reader = asyncio.create_task(read(http, total))
        try:
            sent = 0
            for n, how in enumerate((signal.SIGTERM, signal.SIGKILL)):
                await produce(chunks[2 * n])
                sent += len(chunks[2 * n])
                # cut the client off with part of what was sent still unread
                mark = sent - len(chunks[2 * n]) // 2
                await eventually(
                    lambda m=mark: len(received) >= m,
                    timeout=30,
                    message="events before the restart",
                )
                notifier.proc.send_signal(how)
                notifier.proc.wait(20)
                await produce(chunks[2 * n + 1])  # while no notifier runs
                sent += len(chunks[2 * n + 1])
                notifier = start()
            await produce(chunks[4])
            await asyncio.wait_for(reader, 60)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            await publisher.stop()
    got: dict[str, list[tuple[str, str]]] = {j: [] for j in jobs}
    for event in received:
        job, what = label(event)
        got[job].append((job, what))
    assert got == expected, "lost, repeated or reordered events"
    assert reconnects >= 2
    print(
        f"\nnotifier: {total} events over 2 restarts, {reconnects} reconnects,"
        " none lost or repeated"
    )


async def test_a_notifier_shutting_down_spreads_its_clients_comebacks(
    procs: Processes, test_env: dict[str, str], db_url: str
) -> None:
    """SIGTERM: every stream ends with its own ``retry:`` (1 s + up to the 4 s window) and
    the instance's position as its id, so a restart is not met by every client at once."""
    user = str(uuid.uuid4())
    await insert_job(db_url, user, status="processing")
    port = free_port()
    # thirty streams of one user from one address: the per-user and per-address caps off
    caps = {"NOTIFIER_MAX_STREAMS_PER_USER": "0", "NOTIFIER_MAX_STREAMS_PER_ADDRESS": "0"}
    notifier = procs.start("notifier", ["notifier"], {**test_env, **caps, "PORT": str(port)})
    base = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(f"{base}/notifier/health")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(up, timeout=30, message="notifier up")
    token = issue_access_token(test_env["JWT_SECRET"], user, "user")
    headers = {"Authorization": f"Bearer {token}"}
    opened = asyncio.Event()
    streams = 30
    ready = 0

    async def last_block(http: httpx.AsyncClient) -> list[str]:
        nonlocal ready
        blocks, lines = [], []
        async with http.stream("GET", f"{base}/events", headers=headers) as response:
            async for line in response.aiter_lines():
                if line:
                    lines.append(line)
                    continue
                blocks.append(lines)
                lines = []
                if len(blocks) == 2:  # retry, snapshot: the stream is open
                    ready += 1
                    if ready == streams:
                        opened.set()
        return blocks[-1]

    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=30.0)) as http:
        readers = [asyncio.create_task(last_block(http)) for _ in range(streams)]
        await asyncio.wait_for(opened.wait(), 30)
        notifier.proc.send_signal(signal.SIGTERM)
        farewells = await asyncio.wait_for(asyncio.gather(*readers), 30)
    await asyncio.to_thread(notifier.proc.wait, 20)
    delays = [int(line[7:]) for block in farewells for line in block if line.startswith("retry:")]
    ids = {line[4:] for block in farewells for line in block if line.startswith("id: ")}
    assert len(delays) == streams, farewells[:3]
    assert all(1000 <= d <= 5000 for d in delays)
    assert max(delays) - min(delays) > 2000, f"comebacks bunched: {sorted(delays)}"
    assert len(ids) == 1 and next(iter(ids)).startswith("1:"), "each resumes from the position"
