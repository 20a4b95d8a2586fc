"""Live streams over real HTTP: current state first, then every event of the job, in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx

from schemas.events import JobCompleted, JobFailed, JobOutput, JobStarted, StageCompleted
from services.notifier.settings import NotifierConfig
from tests.support.notifier import PublishEvents, StartNotifier, insert_job, sse, tick


async def test_job_events_arrive_in_order_after_the_current_state(
    notifiers: StartNotifier,
    publish_events: PublishEvents,
    token: Callable[..., str],
    http: httpx.AsyncClient,
    db_url: str,
) -> None:
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user, status="processing", progress=5)
    notifier = await notifiers()
    output = JobOutput(
        name="720p", key=f"outputs/{job}/720p.mp4", content_type="video/mp4", size_bytes=9
    )
    async with sse(http, f"{notifier.url}/jobs/{job}/events", token=token(user)) as stream:
        first = await stream.next()
        assert (first.event, first.data["status"], first.data["progress"]) == (
            "job_update",
            "processing",
            5,
        )
        assert first.data["snapshot"] is True and first.id
        await publish_events(
            JobStarted(job_id=job, worker_id="w1", attempt=1),
            *[tick(job, p) for p in (10, 20, 30, 40, 50)],
            StageCompleted(
                job_id=job,
                worker_id="w1",
                attempt=1,
                operation="transcode",
                status="ok",
                duration_ms=5,
            ),
            JobCompleted(job_id=job, worker_id="w1", attempt=1, outputs=[output], duration_ms=10),
        )
        events = await stream.take(8)
    names = [e.event for e in events]
    assert names == ["job_update"] + ["progress_update"] * 5 + ["job_update", "job_complete"]
    assert [e.data["progress"] for e in events[1:6]] == [10, 20, 30, 40, 50]
    assert events[0].data["status"] == "processing"
    assert set(events[1].data) >= {"job_id", "progress", "stage", "fps", "eta"}
    assert events[-1].data["outputs"][0]["name"] == "720p"
    assert len({e.id for e in [first, *events]}) == 9, "every event has its own id"


async def test_a_late_subscriber_sees_a_finished_job_as_finished(
    notifiers: StartNotifier, token: Callable[..., str], http: httpx.AsyncClient, db_url: str
) -> None:
    user = str(uuid.uuid4())
    outputs = [
        {
            "name": "thumbnail",
            "key": "outputs/x/t.jpg",
            "content_type": "image/jpeg",
            "size_bytes": 3,
        }
    ]
    done = await insert_job(db_url, user, status="completed", progress=100, outputs=outputs)
    failed = await insert_job(db_url, user, status="failed", error_message="not a video")
    notifier = await notifiers()
    # EventSource cannot send headers: the token may come as a query parameter
    url = f"{notifier.url}/jobs/{done}/events?access_token={token(user)}"
    async with sse(http, url) as stream:
        event = await stream.next()
    assert (event.event, event.data["outputs"]) == ("job_complete", outputs)
    async with sse(http, f"{notifier.url}/events", token=token(user)) as stream:
        events = await stream.take(2)
    assert {e.data["job_id"]: e.event for e in events} == {
        done: "job_complete",
        failed: "error_notification",
    }
    assert [e.data["error_message"] for e in events if e.event == "error_notification"] == [
        "not a video"
    ]


async def test_events_stream_filters_by_owner_job_and_admin(
    notifiers: StartNotifier,
    publish_events: PublishEvents,
    token: Callable[..., str],
    http: httpx.AsyncClient,
    db_url: str,
) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    a1, a2, b1 = [await insert_job(db_url, u, status="processing") for u in (alice, alice, bob)]
    notifier = await notifiers()
    base = notifier.url
    async with (
        sse(http, f"{base}/events", token=token(alice)) as mine,
        sse(http, f"{base}/events?job_id={a2}", token=token(alice)) as one,
        sse(http, f"{base}/events", token=token(str(uuid.uuid4()), "admin")) as everything,
        sse(http, f"{base}/events?user_id={bob}", token=token(str(uuid.uuid4()), "admin")) as bobs,
    ):
        assert len(await mine.take(2)) == 2 and len(await one.take(1)) == 1
        assert len(await everything.take(3)) == 3 and len(await bobs.take(1)) == 1
        await publish_events(tick(b1, 10), tick(a1, 20), tick(a2, 30))
        await publish_events(
            JobFailed(job_id=b1, error_code="x", message="boom", retryable=False, attempt=1)
        )
        assert [e.data["job_id"] for e in await mine.take(2)] == [a1, a2]
        assert [e.data["job_id"] for e in await one.take(1)] == [a2]
        assert [e.data["job_id"] for e in await everything.take(4)] == [b1, a1, a2, b1]
        got = await bobs.take(2)
        assert [e.event for e in got] == ["progress_update", "error_notification"]
        assert got[1].data["error_message"] == "boom"


async def test_idle_streams_get_heartbeat_comments(
    notifiers: StartNotifier, token: Callable[..., str], http: httpx.AsyncClient, db_url: str
) -> None:
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user)
    notifier = await notifiers(NotifierConfig(heartbeat_s=0.1))
    async with sse(http, f"{notifier.url}/jobs/{job}/events", token=token(user)) as stream:
        await stream.next()
        lines = stream._lines
        assert lines is not None
        heartbeats: list[str] = []
        async with asyncio.timeout(10):  # beats every 0.1 s: two come long before
            async for line in lines:
                if line.startswith(":"):
                    heartbeats.append(line)
                    if len(heartbeats) == 2:
                        break
        # the stream stayed open, and only comments kept it alive (no events were due)
        assert [h.startswith(": ping - ") for h in heartbeats] == [True, True], heartbeats
