"""One account tries to starve every SSE client of a running ``vidpipe up``: thirty streams at
once from one address, half resuming from ``Last-Event-ID: 1::`` (the start of a log longer
than the ring), half from a cursor the log must replay, and then a stream of retries. Ten are
served, the rest are told to come back later (429 + ``Retry-After``), and other users connect
and get their first event in under a second meanwhile, and their live events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from schemas.envelope import new_envelope
from schemas.events import Event
from services.core.kafka.clients import KafkaEventPublisher
from tests.support.notifier import insert_job, tick
from tests.support.up import Up, User

ATTEMPTS = 30  # the greedy account's streams at once (the cap is 10)
RING = 50  # the notifier's ring, small so that a short log outgrows it
WINDOW = 200  # NOTIFIER_REPLAY_MAX_RECORDS: ``1::`` is further back than this
FIRST_EVENT_S = 1.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Up]:
    env = {"NOTIFIER_RING_SIZE": str(RING), "NOTIFIER_REPLAY_MAX_RECORDS": str(WINDOW)}
    with tempfile.TemporaryDirectory(prefix="vps", dir="/tmp") as tmp:
        up = Up(Path(tmp), env=env)
        try:
            up.wait_ready()
            yield up
        except BaseException:
            up.dump()
            raise
        finally:
            up.stop()


def user_id(user: User) -> str:
    token = user.headers["Authorization"].removeprefix("Bearer ")
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


@contextlib.asynccontextmanager
async def publisher(stack: Up) -> AsyncIterator[KafkaEventPublisher]:
    kafka = KafkaEventPublisher(stack.address("kafka"), topic_prefix="")
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


async def publish(kafka: KafkaEventPublisher, events: list[Event]) -> None:
    await asyncio.gather(*(kafka.publish(new_envelope(e, source="/tests/abuse")) for e in events))


async def first_event(lines: AsyncIterator[str]) -> dict[str, object]:
    """The ``data`` of the stream's first event (``retry:`` and comments skipped)."""
    async for line in lines:
        if line.startswith("data:"):
            data: dict[str, object] = json.loads(line[5:])
            return data
    raise AssertionError("the stream ended before its first event")


Held = list[tuple[httpx.Response, AsyncIterator[str]]]


async def attempt(client: httpx.AsyncClient, url: str, headers: dict[str, str], held: Held) -> int:
    """One of the greedy account's streams: kept open (in ``held``) when accepted."""
    request = client.build_request("GET", url, headers=headers)
    response = await client.send(request, stream=True)
    if response.status_code == 200:
        lines = response.aiter_lines()  # kept too: collecting it would close the stream
        await first_event(lines)  # served: the snapshot, or the replayed events
        held.append((response, lines))
        return 200
    body = json.loads(await response.aread())
    await response.aclose()
    assert response.status_code == 429, body
    assert body["error"]["code"] == "too_many_streams"
    assert 1 <= int(response.headers["retry-after"]) <= 5
    return 429


def victims_connect(url: str, victims: list[User], jobs: list[str], rounds: int) -> list[float]:
    """Each victim connects ``rounds`` times: seconds to its first event, each time. A thread
    of its own, as other people's browsers are: not slowed by the attacker's event loop."""
    delays = []
    with httpx.Client(timeout=30) as client:
        for _ in range(rounds):
            for victim, job in zip(victims, jobs, strict=True):
                started = time.monotonic()
                with client.stream("GET", url, headers=victim.headers) as response:
                    assert response.status_code == 200, response.read()
                    line = next(li for li in response.iter_lines() if li.startswith("data:"))
                delays.append(time.monotonic() - started)
                data = json.loads(line[5:])
                assert data["job_id"] == job and data["snapshot"] is True, data
    return delays


async def test_one_account_cannot_starve_the_other_streams(stack: Up) -> None:
    ingest, url = stack.address("ingest"), f"{stack.address('notifier')}/events"
    db_url = stack.address("postgres")
    suffix = uuid.uuid4().hex[:6]
    greedy = await User.register(ingest, f"greedy{suffix}")
    victims = [await User.register(ingest, f"victim{n}{suffix}") for n in range(2)]
    greedy_job = await insert_job(db_url, user_id(greedy), status="processing")
    victim_jobs = [await insert_job(db_url, user_id(v), status="processing") for v in victims]
    attacker = httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"),
        timeout=httpx.Timeout(30.0, read=60.0),
    )
    held: Held = []
    async with publisher(stack) as kafka, attacker, httpx.AsyncClient(timeout=30) as client:
        # a log longer than the ring and the replay window: ``1::`` is ancient
        await publish(kafka, [tick(greedy_job, n % 100) for n in range(RING + WINDOW + 50)])
        async with client.stream("GET", url, headers=victims[1].headers) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("id:"):
                    recent = line[3:].strip()  # where the log is now
                    break
        # within the window, beyond the ring: a resume that reads the log
        await publish(kafka, [tick(greedy_job, n % 100) for n in range(RING + 20)])
        cursors = ["1::", recent] * (ATTEMPTS // 2)
        try:
            statuses = await asyncio.gather(
                *(
                    attempt(attacker, url, {**greedy.headers, "Last-Event-ID": c}, held)
                    for c in cursors
                )
            )
            assert statuses.count(200) == 10 and statuses.count(429) == ATTEMPTS - 10

            # the greedy account keeps knocking, ignoring Retry-After, while others connect
            stop = asyncio.Event()

            async def knock() -> int:
                refused = 0
                while not stop.is_set():
                    headers = {**greedy.headers, "Last-Event-ID": "1::"}
                    refused += await attempt(attacker, url, headers, held) == 429
                return refused

            knockers = [asyncio.create_task(knock()) for _ in range(5)]
            try:
                delays = await asyncio.to_thread(victims_connect, url, victims, victim_jobs, 3)
                # and their live events arrive
                async with client.stream("GET", url, headers=victims[0].headers) as live:
                    lines = live.aiter_lines()
                    async for line in lines:
                        if line.startswith("data:"):
                            break  # the snapshot
                    await publish(kafka, [tick(victim_jobs[0], 77)])
                    async with asyncio.timeout(10):
                        async for line in lines:
                            if line.startswith("data:"):
                                assert json.loads(line[5:])["progress"] == 77
                                break
            finally:
                stop.set()
                refused = await asyncio.gather(*knockers)
            assert len(held) == 10, "no knock got past the cap"
            assert sum(refused) > 0
            slowest = max(delays)
            print(f"victims' first events after {', '.join(f'{d:.3f}' for d in delays)} s")
            assert slowest < FIRST_EVENT_S, f"a victim waited {slowest:.2f}s for its first event"
        finally:
            for response, _ in held:
                await response.aclose()
