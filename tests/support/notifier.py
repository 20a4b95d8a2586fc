"""A real notifier over real HTTP for the tests, a small SSE client to read it, and the fixtures
``notifiers`` (instances on loopback ports), ``publish_events``, ``token`` and ``http``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import jwt
import pytest
import uvicorn
from prometheus_client import REGISTRY

from schemas.envelope import new_envelope
from schemas.events import Event, JobProgress
from services.core.access.tokens import AUDIENCE, ISSUER, Role, issue_access_token
from services.core.db.engine import plain_url
from services.core.kafka.clients import KafkaEventPublisher
from services.core.runtime.settings import Settings
from services.notifier.dependencies import Dependencies
from services.notifier.main import create_app
from services.notifier.settings import NotifierConfig
from tests.support.eventually import eventually
from tests.support.infra import Infra

UNCAPPED: dict[str, Any] = {"max_streams_per_user": 0, "max_streams_per_address": 0}
"""``NotifierConfig(**UNCAPPED)``: for tests of many streams of one user from one address."""

PublishEvents = Callable[..., Awaitable[None]]
"""``await publish_events(*events)``: each published and acknowledged before the next."""


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningNotifier:
    """One notifier instance served by uvicorn on a loopback port."""

    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 15)


async def start_notifier(
    settings: Settings, config: NotifierConfig | None = None, *, sndbuf: int | None = None
) -> RunningNotifier:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if sndbuf is not None:  # accepted sockets inherit it: lets a test stall a client quickly
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.bind(("127.0.0.1", 0))
    app = create_app(settings, config)
    server = _Server(
        uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=1
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))

    def started() -> bool:
        if task.done():
            task.result()
            raise RuntimeError("notifier stopped during start-up")
        return server.started

    await eventually(started, timeout=30, message="the notifier to start")
    return RunningNotifier(f"http://127.0.0.1:{sock.getsockname()[1]}", server, task)


StartNotifier = Callable[..., Awaitable[RunningNotifier]]
"""``await notifiers(config=None, sndbuf=None)``: one more instance, stopped at teardown."""


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str
    data: dict[str, Any]


@dataclass
class SseReader:
    """Parses an SSE response into events; comments (heartbeats) are counted."""

    response: httpx.Response
    comments: int = 0
    last_id: str | None = None
    _lines: AsyncIterator[str] | None = field(default=None, repr=False)

    async def next(self, timeout: float = 10.0) -> SseEvent:
        async with asyncio.timeout(timeout):
            return await self._next()

    async def _next(self) -> SseEvent:
        if self._lines is None:
            self._lines = self.response.aiter_lines()
        fields: dict[str, str] = {}
        async for line in self._lines:
            if line.startswith(":"):
                self.comments += 1
            elif line == "":
                if "data" in fields:
                    event_id = fields.get("id", self.last_id)
                    self.last_id = event_id
                    data = json.loads(fields["data"])
                    return SseEvent(event_id, fields.get("event", "message"), data)
            else:
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value
        raise EOFError("stream ended")

    async def take(self, count: int, timeout: float = 15.0) -> list[SseEvent]:
        async with asyncio.timeout(timeout):
            return [await self._next() for _ in range(count)]


@contextlib.asynccontextmanager
async def sse(
    client: httpx.AsyncClient, url: str, *, token: str | None = None, last_id: str | None = None
) -> AsyncIterator[SseReader]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SseReader(response)


async def insert_job(
    db_url: str,
    user_id: str,
    *,
    status: str = "pending",
    progress: int = 0,
    outputs: list[dict[str, Any]] | None = None,
    error_message: str | None = None,
) -> str:
    """A ``jobs`` row as the projector would have written it (test setup only)."""
    job_id = str(uuid.uuid4())
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        await conn.execute(
            "INSERT INTO jobs (id, user_id, original_filename, file_path, status, progress,"
            " outputs, error_message) VALUES ($1, $2, 'a.mp4', $3, $4, $5, $6::jsonb, $7)",
            job_id,
            user_id,
            f"sources/{job_id}/source",
            status,
            progress,
            json.dumps(outputs or []),
            error_message,
        )
    finally:
        await conn.close()
    return job_id


def tick(job_id: str, progress: int, stage: str = "transcode") -> JobProgress:
    return JobProgress(
        job_id=job_id, attempt=1, progress=progress, stage=stage, fps=30.0, eta_s=5.0
    )


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user_id: str, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "role": "user", "iss": ISSUER, "aud": AUDIENCE}
    claims |= {"iat": now, "exp": now + 600}
    return claims | changes


def bad_tokens(secret: str, user_id: str) -> dict[str, str]:
    """Tokens every endpoint must refuse with 401, by what is wrong with them."""
    return {
        "expired": issue_access_token(secret, user_id, "user", ttl_s=-60),
        "forged": issue_access_token("another-secret-" + "x" * 40, user_id, "user"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user_id))}.",
        "wrong audience": jwt.encode(_claims(user_id, aud="somebody-else"), secret, "HS256"),
        "wrong issuer": jwt.encode(_claims(user_id, iss="elsewhere"), secret, "HS256"),
        "garbage": "not-a-token",
    }


@pytest.fixture
async def notifiers(settings: Settings) -> AsyncIterator[StartNotifier]:
    """Start as many notifier instances as a test needs; all stop at teardown."""
    running: list[RunningNotifier] = []

    async def start(config: NotifierConfig | None = None, **options: object) -> RunningNotifier:
        instance = await start_notifier(settings, config, **options)  # type: ignore[arg-type]
        running.append(instance)
        return instance

    yield start
    for instance in running:
        await instance.stop()


@pytest.fixture
async def publish_events(infra: Infra, topic_prefix: str) -> AsyncIterator[PublishEvents]:
    """Produce events to this test's topics, in order, each acknowledged before the next."""
    publisher = KafkaEventPublisher(infra.bootstrap_servers, topic_prefix=topic_prefix)
    await publisher.start()

    async def publish(*events: Event) -> None:
        for event in events:
            await publisher.publish(new_envelope(event, source="/tests/notifier"))

    yield publish
    await publisher.stop()


@pytest.fixture
def token(test_env: dict[str, str]) -> Callable[..., str]:
    """``token(user_id, role="user", ttl_s=600)``: an access token for this test's secret."""

    def mint(user_id: str, role: Role = "user", ttl_s: int = 600) -> str:
        return issue_access_token(test_env["JWT_SECRET"], user_id, role, ttl_s)

    return mint


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=30.0)) as client:
        yield client


def runtime(notifier: RunningNotifier) -> Dependencies:
    """The running notifier's Dependencies (its hub, admission pools, counts)."""
    app = notifier.server.config.app
    return app.state.dependencies  # type: ignore[union-attr, no-any-return]


def counter(name: str, **labels: str) -> float:
    """A sample of this process's metrics (the notifier under test runs in it)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def log_reads() -> float:
    return counter("vidpipe_notifier_replay_log_reads_total")


def stalled_client(url: str, path: str, token: str, last_id: str | None = None) -> socket.socket:
    """A stream request (a resume, with ``last_id``) that then reads nothing: a tiny receive
    buffer stalls it sooner. The socket is non-blocking, for ``loop.sock_recv``."""
    parts = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname or "", parts.port or 80))
    resume = f"Last-Event-ID: {last_id}\r\n" if last_id is not None else ""
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{resume}\r\n"
    sock.sendall(request.encode())
    sock.setblocking(False)
    return sock
