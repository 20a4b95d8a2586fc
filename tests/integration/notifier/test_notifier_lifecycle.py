"""A stream's life around the data: the client leaving, HEAD, and the server shutting down."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client import REGISTRY
from sse_starlette.sse import AppStatus

from tests.support.eventually import eventually
from tests.support.notifier import StartNotifier, insert_job, sse


def connected() -> float:
    return REGISTRY.get_sample_value("vidpipe_notifier_connected_clients") or 0.0


@pytest.fixture
def shutting_down() -> Iterator[None]:
    """``AppStatus.should_exit`` is process-wide: set it for one test only."""
    yield
    AppStatus.should_exit = False


async def test_a_client_that_leaves_is_unsubscribed_at_once(
    notifiers: StartNotifier, token: Callable[..., str], http: httpx.AsyncClient, db_url: str
) -> None:
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user)
    notifier = await notifiers()
    before = connected()
    async with sse(http, f"{notifier.url}/jobs/{job}/events", token=token(user)) as stream:
        await stream.next()
        assert connected() == before + 1
    # no heartbeat or event is needed to notice: the disconnect listener ends the stream
    await eventually(lambda: connected() == before, timeout=3, message="the stream to end")


async def test_head_answers_headers_without_opening_a_stream(
    notifiers: StartNotifier, token: Callable[..., str], http: httpx.AsyncClient, db_url: str
) -> None:
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user)
    notifier = await notifiers()
    headers = {"Authorization": f"Bearer {token(user)}"}
    response = await http.head(f"{notifier.url}/jobs/{job}/events", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"


async def test_streams_end_when_the_server_shuts_down(
    notifiers: StartNotifier,
    token: Callable[..., str],
    http: httpx.AsyncClient,
    db_url: str,
    shutting_down: None,
) -> None:
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user)
    notifier = await notifiers()
    async with sse(http, f"{notifier.url}/jobs/{job}/events", token=token(user)) as stream:
        await stream.next()
        AppStatus.should_exit = True  # what services.core.http.serving sets on SIGTERM
        with pytest.raises(EOFError):  # a complete response: the browser reconnects elsewhere
            await stream.next(timeout=3)
