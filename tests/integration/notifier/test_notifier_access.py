"""Access control holds before any stream opens: 401 for bad tokens, 404 for others' jobs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest

from services.core.db.engine import plain_url
from tests.support.notifier import RunningNotifier, StartNotifier, bad_tokens, insert_job, sse


@pytest.fixture
async def notifier(notifiers: StartNotifier) -> RunningNotifier:
    return await notifiers()


async def test_bad_tokens_get_401_before_the_stream_opens(
    notifier: RunningNotifier, http: httpx.AsyncClient, test_env: dict[str, str], db_url: str
) -> None:
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user)
    for path in ("/events", f"/jobs/{job}/events"):
        response = await http.get(notifier.url + path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
        for name, bad in bad_tokens(test_env["JWT_SECRET"], user).items():
            for how in (
                {"headers": {"Authorization": f"Bearer {bad}"}},
                {"params": {"access_token": bad}},
            ):
                response = await http.get(notifier.url + path, **how)  # type: ignore[arg-type]
                assert response.status_code == 401, (path, name)
                assert set(response.json()["error"]) == {"code", "message"}


async def test_another_users_job_is_404_and_an_admin_may_follow_it(
    notifier: RunningNotifier, http: httpx.AsyncClient, token: Callable[..., str], db_url: str
) -> None:
    owner, other = str(uuid.uuid4()), str(uuid.uuid4())
    job = await insert_job(db_url, owner)
    for url in (
        f"/jobs/{job}/events",
        f"/events?job_id={job}",
        f"/jobs/{uuid.uuid4()}/events",
        "/jobs/nope/events",
    ):
        response = await http.get(
            notifier.url + url, headers={"Authorization": f"Bearer {token(other)}"}
        )
        assert response.status_code == 404, url
        assert response.json() == {"error": {"code": "not_found", "message": "job not found"}}
    response = await http.get(
        f"{notifier.url}/events?user_id={owner}",
        headers={"Authorization": f"Bearer {token(other)}"},
    )
    assert response.status_code == 403
    async with sse(
        http, f"{notifier.url}/jobs/{job}/events", token=token(other, "admin")
    ) as stream:
        assert (await stream.next()).data["job_id"] == job


async def test_other_spellings_of_a_job_id_are_404(
    notifier: RunningNotifier, http: httpx.AsyncClient, token: Callable[..., str], db_url: str
) -> None:
    """One spelling per job: a stream opened on another would match none of its events."""
    owner = str(uuid.uuid4())
    job = await insert_job(db_url, owner)
    for spelling in (job.upper(), "%7B" + job + "%7D", "urn:uuid:" + job, job.replace("-", "")):
        for url in (f"/jobs/{spelling}/events", f"/events?job_id={spelling}"):
            response = await http.get(
                notifier.url + url, headers={"Authorization": f"Bearer {token(owner)}"}
            )
            assert response.status_code == 404, url


async def test_ops_routes(notifier: RunningNotifier, http: httpx.AsyncClient) -> None:
    health = await http.get(f"{notifier.url}/notifier/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert (await http.get(f"{notifier.url}/notifier/metrics")).status_code == 404
    metrics = generate_latest().decode()  # this process's registry; OPS_PORT serves it
    for name in (
        "vidpipe_notifier_connected_clients",
        "vidpipe_notifier_events_delivered_total",
        "vidpipe_notifier_clients_dropped_total",
        "vidpipe_notifier_delivery_latency_seconds_bucket",
    ):
        assert name in metrics


async def test_disabling_a_user_ends_their_open_streams(
    notifier: RunningNotifier, http: httpx.AsyncClient, token: Callable[..., str], db_url: str
) -> None:
    """Not only new streams: one already open when an admin disables the account ends within
    the disabled set's poll (2 s) and a heartbeat tick, and its resume is refused."""
    user, other = str(uuid.uuid4()), str(uuid.uuid4())
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        for who in (user, other):
            await conn.execute(
                "INSERT INTO users (id, username, email, password_hash) VALUES ($1, $2, $3, 'x')",
                who,
                f"u-{who}",
                f"{who}@example.com",
            )
        job, others_job = await insert_job(db_url, user), await insert_job(db_url, other)
        async with (
            sse(http, f"{notifier.url}/jobs/{job}/events", token=token(user)) as stream,
            sse(http, f"{notifier.url}/events", token=token(user)) as all_of_them,
            sse(http, f"{notifier.url}/jobs/{others_job}/events", token=token(other)) as kept,
        ):
            for open_stream in (stream, all_of_them, kept):
                await open_stream.next()  # the snapshot: open
            await conn.execute("UPDATE users SET disabled = true WHERE id = $1", user)
            for ended in (stream, all_of_them):
                with pytest.raises(EOFError):
                    await ended.next(timeout=10)
            kept_open = asyncio.create_task(kept.next(timeout=1.5))
            with pytest.raises(TimeoutError):  # only a heartbeat or an event would arrive
                await kept_open
        resumed = await http.get(
            f"{notifier.url}/jobs/{job}/events", headers={"Authorization": f"Bearer {token(user)}"}
        )
        assert resumed.status_code == 401
        assert resumed.json()["error"]["code"] == "account_disabled"
    finally:
        await conn.close()


def requests_counted(route: str, status: str) -> float:
    labels = {"route": route, "method": "GET", "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


async def test_stream_requests_are_counted_by_route_and_status(
    notifier: RunningNotifier, http: httpx.AsyncClient, token: Callable[..., str], db_url: str
) -> None:
    """The dashboard's "HTTP errors by route" sees the notifier's refusals, as ingest's."""
    user = str(uuid.uuid4())
    job = await insert_job(db_url, user)
    watched = [
        ("/events", "401"),
        ("/jobs/{job_id}/events", "404"),
        ("/jobs/{job_id}/events", "200"),
    ]
    before = {key: requests_counted(*key) for key in watched}
    assert (await http.get(f"{notifier.url}/events")).status_code == 401
    headers = {"Authorization": f"Bearer {token(user)}"}
    missing = await http.get(f"{notifier.url}/jobs/{uuid.uuid4()}/events", headers=headers)
    assert missing.status_code == 404
    async with sse(http, f"{notifier.url}/jobs/{job}/events", token=token(user)) as stream:
        await stream.next()
    assert {key: requests_counted(*key) - before[key] for key in watched} == dict.fromkeys(
        watched, 1.0
    )
