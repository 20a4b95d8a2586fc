"""A stalled client neither delays a fast one nor grows memory: it is dropped, then resumes."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable

import httpx
from prometheus_client import REGISTRY

from services.notifier.settings import NotifierConfig
from tests.support.eventually import eventually
from tests.support.notifier import (
    PublishEvents,
    StartNotifier,
    insert_job,
    sse,
    stalled_client,
    tick,
)

EVENTS = 200
MAX_DELAY_S = 1.0
STAGE = "s" * 4000  # big events fill the stalled client's socket buffers quickly


def read_progress(
    url: str, token: str, count: int, connected: threading.Event
) -> list[tuple[int, float]]:
    """A blocking SSE client: the progress of ``count`` events after the snapshot, each with
    the moment (``time.monotonic()``) it arrived."""
    progress: list[tuple[int, float]] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream("GET", url, headers=headers, timeout=20) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                data = json.loads(line[5:])
                if data.get("snapshot"):
                    connected.set()
                else:
                    progress.append((data["progress"], time.monotonic()))
                    if len(progress) == count:
                        break
    return progress


def dropped() -> float:
    return REGISTRY.get_sample_value("vidpipe_notifier_clients_dropped_total") or 0.0


async def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    loop = asyncio.get_running_loop()
    data = bytearray()
    async with asyncio.timeout(timeout):
        while chunk := await loop.sock_recv(sock, 65536):
            data += chunk
    return bytes(data)


def sse_ids_and_progress(raw: bytes) -> list[tuple[str, int | None]]:
    """Complete events of a chunked HTTP response that may end mid-chunk."""
    body = raw.partition(b"\r\n\r\n")[2]
    text = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0 or len(rest) < size:
            break
        text += rest[:size]
        body = rest[size + 2 :]
    events = []
    for block in text.decode().split("\n\n")[:-1]:
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "id" in fields:
            progress = fields["data"].partition('"progress":')[2].split(",")[0]
            events.append((fields["id"], int(progress) if progress.isdigit() else None))
    return events


async def test_a_stalled_client_does_not_delay_a_fast_one(
    notifiers: StartNotifier,
    publish_events: PublishEvents,
    token: Callable[..., str],
    http: httpx.AsyncClient,
    db_url: str,
) -> None:
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user, status="processing")
    # room for a burst (a held-up hub drops the fast client too, hiding the delay as a drop),
    # and sends that block for longer than MAX_DELAY_S before they fail
    config = NotifierConfig(queue_size=64, send_timeout_s=5.0)
    notifier = await notifiers(config, sndbuf=65536)  # caps what the kernel absorbs
    path = f"/jobs/{job}/events"
    drops = dropped()
    stalled = stalled_client(notifier.url, path, token(user))
    connected = threading.Event()
    # The fast client reads in its own thread, as a separate browser would: sharing the
    # server's event loop would make it as slow as the test's loop, not as fast as a client.
    fast = asyncio.create_task(
        asyncio.to_thread(read_progress, notifier.url + path, token(user), EVENTS, connected)
    )
    try:
        await asyncio.to_thread(connected.wait, 10)
        acked: list[float] = []  # when the broker had each event
        for n in range(EVENTS):
            await publish_events(tick(job, n % 100, STAGE))
            acked.append(time.monotonic())
        got = await fast
        assert [p for p, _ in got] == [n % 100 for n in range(EVENTS)]
        # How long after the broker had it each event reached the fast client: a hub that
        # waited on the stalled client would hold it for up to a send timeout (5 s); a free
        # one hands each event on within a few hundred ms, even on a loaded machine.
        delay = max(arrived - at for (_, arrived), at in zip(got, acked, strict=True))
        assert delay < MAX_DELAY_S, f"an event reached the fast client {delay:.2f}s late"
        await eventually(lambda: dropped() > drops, message="the stalled client to be dropped")
        raw = await read_until_closed(stalled, timeout=20)  # the server closed it
    finally:
        stalled.close()
    received = sse_ids_and_progress(raw)
    assert 1 <= len(received) < EVENTS + 1, "it got the snapshot and some events, not all"
    # it resumes from the last event it did get: the rest, once each
    async with sse(http, notifier.url + path, token=token(user), last_id=received[-1][0]) as back:
        rest = await back.take(EVENTS + 1 - len(received), timeout=20)
    progress = [p for _, p in received[1:]] + [e.data["progress"] for e in rest]
    assert progress == [n % 100 for n in range(EVENTS)]
