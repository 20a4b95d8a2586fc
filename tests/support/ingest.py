"""An ingest server on a real socket (uvicorn, 127.0.0.1:0), an HTTP client for it with account
helpers (``Api``), and the fixtures that start them (``make_api``, ``api``, ``public_origin``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import uvicorn

from services.cli.registry import SERVICES
from services.cli.web import compose
from services.core.access.tokens import issue_access_token
from services.core.runtime.settings import Settings
from services.ingest.app import create_app
from tests.support.eventually import eventually


class Api:
    """An HTTP client for one running ingest server, with account helpers."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def register(
        self, name: str | None = None, password: str = "correct horse"
    ) -> dict[str, Any]:
        name = name or f"user{uuid.uuid4().hex[:8]}"
        response = await self.client.post(
            "/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": password},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def login(self, username: str, password: str = "correct horse") -> dict[str, Any]:
        response = await self.client.post(
            "/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def user(self) -> dict[str, str]:
        """A fresh user; returns headers carrying its access token (and its ids)."""
        account = await self.register()
        tokens = await self.login(account["username"])
        return {
            "Authorization": f"Bearer {tokens['access_token']}",
            "X-User-Id": account["id"],
            "X-User-Name": account["username"],
        }

    async def upload(
        self, headers: dict[str, str], *files: tuple[str, bytes], options: str | None = None
    ) -> httpx.Response:
        parts: list[tuple[str, Any]] = [("file", (name, data, "video/mp4")) for name, data in files]
        data = {"options": options} if options is not None else None
        return await self.client.post("/upload", files=parts, data=data, headers=headers)


async def start_server(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        if task.done():
            task.result()  # the server's start-up error
            raise RuntimeError("the server stopped during start-up")
        return server.started

    await eventually(started, timeout=30, message="the server to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


async def start_api(env: dict[str, str]) -> tuple[Api, Callable[[], Awaitable[None]]]:
    """An ingest server for ``env`` and the coroutine function that stops it."""
    settings = Settings.from_env(env)
    server, task, base = await start_server(create_app(settings))
    client = httpx.AsyncClient(base_url=base, timeout=30)

    async def stop() -> None:
        await client.aclose()
        server.should_exit = True
        await task

    return Api(client, settings), stop


def bearer(api: Api, user_id: str, role: str = "user") -> dict[str, str]:
    """Headers with an access token for ``user_id`` minted with the deployment's secret."""
    token = issue_access_token(api.settings.secret(), user_id, role)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


async def sql(api: Api, query: str, *args: Any) -> list[Any]:
    """Run ``query`` on ``api``'s database (what a test checks or sets behind the API)."""
    import asyncpg

    from services.core.db.engine import plain_url

    assert api.settings.database_url is not None
    conn = await asyncpg.connect(plain_url(api.settings.database_url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def admin_bearer(api: Api, user_id: str) -> dict[str, str]:
    """Make the account ``user_id`` an admin in the database (admin routes read the role
    there) and return headers with an admin access token for it."""
    await sql(api, "UPDATE users SET role = 'admin' WHERE id = $1", user_id)
    return bearer(api, user_id, "admin")


def stored_files(api: Api) -> list[Path]:
    """Every file in the local store of ``api``'s deployment."""
    root = Path(urlparse(api.settings.storage_url).path)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
def ingest_env(test_env: dict[str, str]) -> dict[str, str]:
    # no projector runs for these tests: do not wait long for read-your-writes
    return {**test_env, "MAX_FILE_SIZE": "2MB", "READ_YOUR_WRITES_TIMEOUT_MS": "100"}


@pytest.fixture
async def make_api(ingest_env: dict[str, str]) -> AsyncIterator[Callable[..., Any]]:
    """``await make_api(**env_overrides)``: as many ingest servers as a test needs."""
    stops: list[Callable[[], Awaitable[None]]] = []

    async def make(**overrides: str) -> Api:
        api, stop = await start_api({**ingest_env, **overrides})
        stops.append(stop)
        return api

    yield make
    for stop in stops:
        await stop()


@pytest.fixture
async def api(make_api: Callable[..., Any]) -> Api:
    """One ingest server for this test's slice."""
    return await make_api()  # type: ignore[no-any-return]


@pytest.fixture
async def public_origin(ingest_env: dict[str, str]) -> AsyncIterator[Api]:
    """The public origin as ``vidpipe web`` serves it (ingest and notifier composed), on a real
    socket, with a client for it."""
    settings = Settings.from_env(ingest_env)
    apps = [service.create_app(settings) for service in SERVICES if service.public]
    server, task, base = await start_server(compose(apps))
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield Api(client, settings)
    server.should_exit = True
    await task
