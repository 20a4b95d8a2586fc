"""Ingest's handlers, fast: the app driven in-process (ASGI, no socket) against this test's
PostgreSQL slice, with the in-memory publisher and a fixed clock wired through the same
``bootstrap`` instead of the broker and real time. The broker-backed tests beside this one
show the same routes end to end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from schemas.events import JobSubmitted
from services.core.runtime.settings import Settings
from services.ingest.app import create_app
from tests.support.fakes import FixedClock, InMemoryPublisher
from tests.support.ingest import Api
from tests.support.tus_client import Tus


class Ports:
    def __init__(self) -> None:
        self.publisher = InMemoryPublisher()
        self.clock = FixedClock(datetime.now(UTC))


@pytest.fixture
def ports() -> Ports:
    return Ports()


@pytest.fixture
async def api(ingest_env: dict[str, str], ports: Ports) -> AsyncIterator[Api]:
    settings = Settings.from_env(ingest_env)
    app = create_app(settings, publisher=ports.publisher, clock=ports.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
            yield Api(client, settings)


async def test_an_upload_publishes_submitted_with_the_callers_options(
    api: Api, ports: Ports, video: bytes
) -> None:
    user = await api.user()
    answer = await api.upload(user, ("clip.mp4", video), options='{"preset":"h264-480p"}')
    assert answer.status_code == 202, answer.text
    [submitted] = ports.publisher.events
    assert isinstance(submitted, JobSubmitted)
    assert submitted.job_id == answer.json()["id"] and submitted.user_id == user["X-User-Id"]
    assert submitted.processing_options["preset"] == "h264-480p"
    assert submitted.source_size == len(video)
    # no projector here: the answer is the pending view, stamped by the handlers' clock
    assert answer.json()["status"] == "pending"
    assert answer.json()["created_at"].startswith(ports.clock.now.isoformat()[:19])


async def test_a_refused_upload_publishes_nothing(api: Api, ports: Ports) -> None:
    user = await api.user()
    answer = await api.upload(user, ("clip.mp4", b"not a video" * 100))
    assert answer.status_code == 415, answer.text
    assert answer.json()["error"]["code"] == "not_a_video"
    assert ports.publisher.envelopes == []


async def test_an_upload_expires_when_the_clock_passes_its_expiry(
    api: Api, ports: Ports, video: bytes
) -> None:
    tus = Tus(api.client, await api.user())
    created = await tus.create(len(video), {"preset": "h264-480p"})
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    assert (await tus.patch(url, 0, video[:1000])).status_code == 204
    # expiry is stamped with real time, not this clock: leave a margin for a slow start-up
    ports.clock.advance(api.settings.upload_expiry_s + 60)
    late = await tus.patch(url, 1000, video[1000:2000])
    assert late.status_code == 410, late.text
    assert json.loads(late.text)["error"]["code"] == "upload_expired"
    assert ports.publisher.envelopes == []
