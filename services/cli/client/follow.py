"""Follow jobs to the end over the notifier's SSE stream (``/events``), reconnecting with
``Last-Event-ID``; on every heartbeat the jobs not yet finished are read once with
``GET /jobs/{id}``, so an event sent before the stream opened is never waited for forever."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from services.cli.client.api import Api, ClientError, check, server_message
from services.cli.client.display import Display, JobBar
from services.cli.client.sse import ServerEvent, SseParser
from services.cli.client.tracking import Tracker
from services.cli.client.wire import TERMINAL

RECONNECTS = 20
DEFAULT_RETRY_S = 3.0  # as browsers wait, until the stream says otherwise (``retry:``)
SETTLE_TRIES = 15  # ~10 s of backoff
STREAM_TIMEOUT = httpx.Timeout(30.0, connect=10.0, read=60.0)  # heartbeats come every 15 s


def follow(api: Api, names: Mapping[str, str], display: Display) -> Tracker:
    """Follow ``names`` (job id → what to call it) until each is completed, failed or
    cancelled; the finished tracker."""
    tracker = Tracker(names)
    bars = {job_id: display.job_task(name) for job_id, name in names.items()}
    parser = SseParser()
    failures = 0
    while not tracker.all_done:
        try:
            for event in _events(api, parser):
                failures = 0
                _handle(api, tracker, bars, event)
                if tracker.all_done:
                    break
        except (httpx.TransportError, ClientError) as exc:
            failures += 1
            if failures > RECONNECTS:
                raise ClientError(f"lost the event stream: {exc}") from None
            delay = reconnect_delay(exc, parser)
            display.note(f"event stream interrupted ({exc}); reconnecting in {delay:.1f}s")
            time.sleep(delay)  # the server's pacing: clients cut off together come back spread
            _settle(api, tracker, bars)
    return tracker


class Overloaded(ClientError):
    """503 from the notifier (a reconnect storm) or 429 (the account or address holds its most
    streams): come back after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenRefreshed(ClientError):
    """The stream said 401 and the token was refreshed: reconnect at once."""


def reconnect_delay(exc: Exception, parser: SseParser) -> float:
    """How long to wait before reconnecting: ``Retry-After`` after a 503 or 429, nothing after a
    token refresh, else the stream's ``retry:`` (jittered by the server per stream)."""
    if isinstance(exc, Overloaded):
        return exc.retry_after
    if isinstance(exc, TokenRefreshed):
        return 0.0
    return parser.retry_ms / 1000 if parser.retry_ms is not None else DEFAULT_RETRY_S


def retry_after(response: httpx.Response) -> float:
    """``Retry-After`` in seconds (the notifier sends delta-seconds), else the default."""
    value = response.headers.get("retry-after", "")
    return float(value) if value.isascii() and value.isdigit() else DEFAULT_RETRY_S


def _events(api: Api, parser: SseParser) -> Iterator[ServerEvent]:
    headers = {"Accept": "text/event-stream"}
    if parser.last_event_id:
        headers["Last-Event-ID"] = parser.last_event_id
    with api.stream("/events", headers=headers, timeout=STREAM_TIMEOUT) as response:
        if response.status_code != 200:
            response.read()  # a refusal's JSON body, for its message
        if response.status_code == 401:
            api.refresh()
            raise TokenRefreshed("access token refreshed")
        if response.status_code in (429, 503):
            raise Overloaded(server_message(response), retry_after(response))
        check(response)
        yield ServerEvent(None)  # connected: settle what finished before the stream opened
        for line in response.iter_lines():
            event = parser.feed(line)
            if event is not None:
                yield event
    raise ClientError("the server ended the stream")


def _handle(api: Api, tracker: Tracker, bars: Mapping[str, JobBar], event: ServerEvent) -> None:
    if event.name is None:  # a heartbeat: catch up on jobs whose events came before the stream
        _settle(api, tracker, bars)
        return
    changed = tracker.apply(event.name, event.json())
    if changed is not None:
        bars[changed].update(tracker.jobs[changed])


def _settle(api: Api, tracker: Tracker, bars: Mapping[str, JobBar]) -> None:
    for job_id in tracker.pending():
        job = fetch_job(api, job_id)
        if job["status"] in TERMINAL:
            tracker.settle(job_id, job)
            bars[job_id].update(tracker.jobs[job_id])


def settled_job(api: Api, job_id: str, status: str) -> dict[str, Any]:
    """``GET /jobs/{id}`` once the read model shows ``status`` (it trails the event stream by
    a moment: the projector writes what the notifier already said), or after a few seconds."""
    job = fetch_job(api, job_id)
    for attempt in range(1, SETTLE_TRIES):
        if job["status"] == status:
            break
        time.sleep(0.1 * attempt)  # a client backing off, not test synchronisation
        job = fetch_job(api, job_id)
    return job


def fetch_job(api: Api, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = check(api.request("GET", f"/jobs/{job_id}")).json()
    return job
