"""One account, one address or one ancient cursor cannot starve the other streams: caps per
user and per client address (429 + ``Retry-After``), cursors too far behind the ring start
afresh instead of reading the log from its start, and resumes that do read the log have an
admission pool of their own (real Kafka, PostgreSQL and HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from services.cli.client import follow
from services.cli.client.api import Api
from services.cli.client.sse import SseParser
from services.cli.client.store import Session, SessionStore
from services.notifier import cursor
from services.notifier.settings import NotifierConfig
from tests.support.eventually import eventually
from tests.support.notifier import (
    UNCAPPED,
    PublishEvents,
    RunningNotifier,
    StartNotifier,
    counter,
    insert_job,
    log_reads,
    runtime,
    sse,
    stalled_client,
    tick,
)

STAGE = "s" * 4000  # big events: a replay that outgrows the socket buffers


def log_replays() -> float:
    return counter("vidpipe_notifier_replays_total", source="log")


async def opening(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> httpx.Response:
    """The answer to a stream request, its body read only if it is not a stream (an SSE body
    never ends)."""
    async with http.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
    return response


def assert_too_many(response: httpx.Response, who: str) -> None:
    assert response.status_code == 429, f"answered {response.status_code}, not 429"
    assert 1 <= int(response.headers["retry-after"]) <= 5
    error = response.json()["error"]
    assert error["code"] == "too_many_streams" and who in error["message"], error


@contextlib.asynccontextmanager
async def streams(
    http: httpx.AsyncClient, url: str, tokens: list[str]
) -> AsyncIterator[list[object]]:
    """One open stream per token, all held for the block."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(sse(http, url, token=t)) for t in tokens]


async def test_an_accounts_eleventh_stream_is_refused_while_another_account_connects(
    notifiers: StartNotifier, token: Callable[..., str], http: httpx.AsyncClient, db_url: str
) -> None:
    greedy, other = str(uuid.uuid4()), str(uuid.uuid4())
    await insert_job(db_url, other)
    # the default per-user cap (10); every client here comes from 127.0.0.1
    notifier = await notifiers(NotifierConfig(max_streams_per_address=0))
    url = f"{notifier.url}/events"
    async with streams(http, url, [token(greedy)] * 10):
        eleventh = await opening(http, url, {"Authorization": f"Bearer {token(greedy)}"})
        assert_too_many(eleventh, "this account")
        admin = await opening(http, url, {"Authorization": f"Bearer {token(greedy, 'admin')}"})
        assert_too_many(admin, "this account")  # the cap is per account, whatever its role
        async with sse(http, url, token=token(other)) as theirs:
            assert (await theirs.next()).data["snapshot"] is True
    # the ten are closed: the account may open streams again
    per_user = runtime(notifier).per_user
    await eventually(lambda: per_user[greedy] == 0, message="the closed streams to be counted")
    async with sse(http, url, token=token(greedy)):
        pass


async def test_a_client_address_holds_at_most_its_share_of_streams(
    notifiers: StartNotifier, token: Callable[..., str], http: httpx.AsyncClient
) -> None:
    config = NotifierConfig(max_streams_per_address=3, max_streams_per_user=0)
    notifier = await notifiers(config)
    url = f"{notifier.url}/events"
    users = [str(uuid.uuid4()) for _ in range(5)]
    async with streams(http, url, [token(u) for u in users[:3]]):  # three accounts, one address
        refused = await opening(http, url, {"Authorization": f"Bearer {token(users[3])}"})
        assert_too_many(refused, "this client address")
        # the same server from another address (loopback has the whole 127/8)
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(transport=transport, timeout=10) as elsewhere:
            async with sse(elsewhere, url, token=token(users[4])):
                pass


async def published_beyond_the_ring(
    notifier: RunningNotifier, publish_events: PublishEvents, job: str, count: int
) -> None:
    """``count`` ticks of ``job``, read by the hub (so most left its ring)."""
    hub = runtime(notifier).hub
    before = cursor.copy(hub.position)
    await publish_events(*[tick(job, n, STAGE) for n in range(1, count + 1)])
    await eventually(
        lambda: cursor.behind(before, hub.position) >= count, message="the hub to read the ticks"
    )


@pytest.mark.parametrize("ancient", ["1::", "1:0:0", "first tick"])
async def test_a_cursor_too_far_behind_the_ring_gets_the_current_state_not_the_log(
    ancient: str,
    notifiers: StartNotifier,
    publish_events: PublishEvents,
    token: Callable[..., str],
    http: httpx.AsyncClient,
    db_url: str,
) -> None:
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user, status="processing", progress=42)
    notifier = await notifiers(NotifierConfig(ring_size=2, replay_max_records=5))
    url = f"{notifier.url}/events"
    async with sse(http, url, token=token(user)) as stream:
        assert (await stream.next()).data["snapshot"] is True
        await publish_events(tick(job, 1))
        first_tick = (await stream.next()).id
    await published_beyond_the_ring(notifier, publish_events, job, 20)
    last_id = str(first_tick) if ancient == "first tick" else ancient
    reads, replays = log_reads(), log_replays()
    async with sse(http, url, token=token(user), last_id=last_id) as resumed:
        current = await resumed.next()
        assert current.data["snapshot"] is True, current  # not p1..p20 again from the log
        assert current.data["job_id"] == job and current.data["progress"] == 42
        await publish_events(tick(job, 21))
        assert (await resumed.next()).data["progress"] == 21  # then live
    assert log_reads() == reads and log_replays() == replays, "the log was not read"


async def test_a_cursor_just_behind_the_ring_still_replays_from_the_log(
    notifiers: StartNotifier,
    publish_events: PublishEvents,
    token: Callable[..., str],
    http: httpx.AsyncClient,
    db_url: str,
) -> None:
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user)
    notifier = await notifiers(NotifierConfig(ring_size=2, replay_max_records=5))
    url = f"{notifier.url}/jobs/{job}/events"
    async with sse(http, url, token=token(user)) as stream:
        start = (await stream.next()).id
    await published_beyond_the_ring(notifier, publish_events, job, 6)  # 4 behind the ring
    replays = log_replays()
    async with sse(http, url, token=token(user), last_id=start) as resumed:
        got = await resumed.take(6)
        assert [e.data["progress"] for e in got] == [1, 2, 3, 4, 5, 6]
    assert log_replays() == replays + 1


async def test_resumes_from_the_log_have_their_own_pool(
    notifiers: StartNotifier,
    publish_events: PublishEvents,
    token: Callable[..., str],
    http: httpx.AsyncClient,
    db_url: str,
) -> None:
    user, other = str(uuid.uuid4()), str(uuid.uuid4())
    job = await insert_job(db_url, user)
    await insert_job(db_url, other)
    # one replay at a time, none waiting; one set-up slot, which a replay must not hold
    config = NotifierConfig(
        ring_size=1, max_replays=1, max_waiting=0, max_opening=1, send_timeout_s=60, **UNCAPPED
    )
    notifier = await notifiers(config, sndbuf=4096)
    deps = runtime(notifier)
    path = f"/jobs/{job}/events"
    async with sse(http, notifier.url + path, token=token(user)) as stream:
        start = str((await stream.next()).id)
    await published_beyond_the_ring(notifier, publish_events, job, 60)  # ~240 KB to replay
    stalled = stalled_client(notifier.url, path, token(user), start)
    try:
        await eventually(lambda: deps.replays.opening == 1, message="a replay under way")
        assert deps.admission.opening == 0, "the replay holds no set-up slot"
        headers = {"Authorization": f"Bearer {token(user)}", "Last-Event-ID": start}
        refused = await opening(http, notifier.url + path, headers)
        assert refused.status_code == 503, f"answered {refused.status_code}, not 503"
        assert refused.json()["error"]["code"] == "overloaded"
        assert "from the log" in refused.json()["error"]["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 5
        # a fresh connect and a resume from the ring still open, through the one set-up slot
        async with sse(http, f"{notifier.url}/events", token=token(other)) as fresh:
            assert (await fresh.next()).data["snapshot"] is True
            assert deps.replays.opening == 1, "the replay is still stalled"
        async with sse(http, notifier.url + path, token=token(user)) as live:
            now = str((await live.next()).id)
        async with sse(http, notifier.url + path, token=token(user), last_id=now) as again:
            await publish_events(tick(job, 61))
            assert (await again.next()).data["progress"] == 61
    finally:
        stalled.close()
    await eventually(lambda: deps.replays.opening == 0, message="the replay slot back")
    async with sse(http, notifier.url + path, token=token(user), last_id=start) as resumed:
        assert [e.data["progress"] for e in await resumed.take(2)] == [1, 2]


async def test_the_cli_client_waits_out_a_429(
    notifiers: StartNotifier, token: Callable[..., str], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """``vidpipe watch``/``submit --follow`` over its cap come back after ``Retry-After``."""
    user = str(uuid.uuid4())
    notifier = await notifiers(NotifierConfig(max_streams_per_user=1))
    async with sse(http, f"{notifier.url}/events", token=token(user)):
        store = SessionStore(tmp_path)
        store.save(Session(notifier.url, "someone", token(user), "unused", time.time() + 3600))
        api = Api(store)

        def connect() -> None:
            with api.open():
                next(follow._events(api, SseParser()))

        with pytest.raises(follow.Overloaded) as refused:
            await asyncio.to_thread(connect)
    assert 1 <= refused.value.retry_after <= 5
    assert "(too_many_streams)" in str(refused.value)
