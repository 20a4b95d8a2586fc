"""Resuming with Last-Event-ID after a forced disconnect: nothing lost, nothing repeated,
on the same instance (from its ring) and on another one (from the log)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
from prometheus_client import REGISTRY

from schemas.events import JobStarted, StageCompleted
from services.notifier.settings import NotifierConfig
from tests.support.eventually import eventually
from tests.support.notifier import PublishEvents, SseEvent, StartNotifier, insert_job, sse, tick


def label(event: SseEvent) -> str:
    if event.event == "progress_update":
        return f"p{event.data['progress']}"
    return str(event.data.get("type", event.event)).rpartition(".")[2]


def replays(source: str) -> float:
    return REGISTRY.get_sample_value("vidpipe_notifier_replays_total", {"source": source}) or 0.0


async def test_resume_loses_nothing_and_repeats_nothing_on_any_instance(
    notifiers: StartNotifier,
    publish_events: PublishEvents,
    token: Callable[..., str],
    http: httpx.AsyncClient,
    db_url: str,
) -> None:
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user, status="pending")
    first = await notifiers()
    auth = token(user)
    async with sse(http, f"{first.url}/events", token=auth) as stream:
        assert (await stream.next()).data["snapshot"] is True
        await publish_events(
            JobStarted(job_id=job, worker_id="w", attempt=1), tick(job, 1), tick(job, 2)
        )
        seen = await stream.take(3)
    # the client is gone (its connection closed); the job moves on without it
    stage = StageCompleted(
        job_id=job, worker_id="w", attempt=1, operation="probe", status="ok", duration_ms=1
    )
    await publish_events(tick(job, 3), stage, tick(job, 4), tick(job, 5))
    missed = ["p3", "stage_completed", "p4", "p5"]
    second = await notifiers(NotifierConfig(ring_size=1))  # starts at the end: must read the log

    async def caught_up() -> bool:  # the first instance's hub holds the missed events
        positions = [(await http.get(f"{n.url}/notifier/health")).json() for n in (first, second)]
        return bool(positions[0]["position"] == positions[1]["position"])

    await eventually(caught_up, message="the first instance to read the missed events")
    before = replays("log"), replays("buffer")
    last_id = seen[-1].id
    async with (
        sse(http, f"{first.url}/events", token=auth, last_id=last_id) as same,
        sse(http, f"{second.url}/events", token=auth, last_id=last_id) as other,
    ):
        from_same, from_other = await same.take(4), await other.take(4)
        assert [label(e) for e in from_same] == missed
        assert [label(e) for e in from_other] == missed
        assert replays("log") == before[0] + 1 and replays("buffer") == before[1] + 1
        await publish_events(tick(job, 6))  # live again: exactly once on each
        assert label(await same.next()) == "p6" and label(await other.next()) == "p6"
        ids = [e.id for e in from_same] + [e.id for e in from_other]
    # an id minted by the second instance (mid-replay) resumes on the first
    async with sse(http, f"{first.url}/events", token=auth, last_id=from_other[1].id) as again:
        assert [label(e) for e in await again.take(3)] == ["p4", "p5", "p6"]
        await publish_events(tick(job, 7))
        assert label(await again.next()) == "p7"
    assert None not in ids


async def test_a_job_stream_resumes_from_the_log_when_the_ring_has_moved_on(
    notifiers: StartNotifier,
    publish_events: PublishEvents,
    token: Callable[..., str],
    http: httpx.AsyncClient,
    db_url: str,
) -> None:
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user)
    notifier = await notifiers(NotifierConfig(ring_size=3))
    url = f"{notifier.url}/jobs/{job}/events"
    async with sse(http, url, token=token(user)) as watcher:
        await watcher.next()
        async with sse(http, url, token=token(user)) as stream:
            await stream.next()
            await publish_events(tick(job, 1))
            last_id = (await stream.next()).id
        await publish_events(*[tick(job, n) for n in range(2, 9)])
        assert label((await watcher.take(8))[-1]) == "p8"  # the hub is past p8: p2 left the ring
        before = replays("log")
        async with sse(http, url, token=token(user), last_id=last_id) as resumed:
            got = await resumed.take(7)
            assert [label(e) for e in got] == [f"p{n}" for n in range(2, 9)]
            assert replays("log") == before + 1
            await publish_events(tick(job, 9))
            assert label(await resumed.next()) == "p9"
