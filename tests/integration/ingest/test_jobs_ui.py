"""What the web app's job list needs, over real HTTP with a real projector: search, sort,
keyset pages, queue position, stage and ETA, error codes, bulk commands."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator

import pytest

from schemas.events import JobCancelled, JobFailed, JobProgress, JobStarted
from tests.support.eventually import eventually
from tests.support.infra import Infra, own_slice
from tests.support.ingest import Api, bearer
from tests.support.readmodel_stack import api_with_projector, job_when, publish


@pytest.fixture(scope="module")
async def env(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, str]]:
    async with own_slice(infra, tmp_path_factory.mktemp("ui"), MAX_FILE_SIZE="2MB") as env:
        yield env


@pytest.fixture(scope="module")
async def api(env: dict[str, str]) -> AsyncIterator[Api]:
    async with api_with_projector(env) as api:
        yield api


async def upload(api: Api, headers: dict[str, str], name: str, video: bytes) -> str:
    response = await api.upload(headers, (name, video))
    assert response.status_code in (201, 202), response.text
    return str(response.json()["id"])


async def names(api: Api, headers: dict[str, str], **params: str) -> list[str]:
    response = await api.client.get("/jobs", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return [j["original_filename"] for j in response.json()["items"]]


async def walk(api: Api, headers: dict[str, str], **params: str) -> list[str]:
    """Every page of size 1, following the cursors."""
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": "1", **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get("/jobs", headers=headers, params=query)).json()
        seen += [j["original_filename"] for j in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_search_sort_and_pages(api: Api, video: bytes) -> None:
    user = await api.user()
    for name in ["Alpha.mp4", "beta.mp4", "gamma-ALPHA.mp4", "100%_done.mp4"]:
        await upload(api, user, name, video)
    assert sorted(await names(api, user, q="alpha")) == ["Alpha.mp4", "gamma-ALPHA.mp4"]
    assert await names(api, user, q="%_") == ["100%_done.mp4"]  # wildcards are literal
    assert await names(api, user, q="nothing") == []
    by_name = ["100%_done.mp4", "Alpha.mp4", "beta.mp4", "gamma-ALPHA.mp4"]
    assert await walk(api, user, sort="filename", order="asc") == by_name
    assert await walk(api, user, sort="filename", order="desc") == by_name[::-1]
    assert await walk(api, user) == ["100%_done.mp4", "gamma-ALPHA.mp4", "beta.mp4", "Alpha.mp4"]
    assert await walk(api, user, sort="created_at", order="asc") == [
        "Alpha.mp4",
        "beta.mp4",
        "gamma-ALPHA.mp4",
        "100%_done.mp4",
    ]
    assert sorted(await walk(api, user, sort="status")) == sorted(by_name)
    assert len(await walk(api, user, sort="updated_at", q=".MP4")) == 4
    first = (await api.client.get("/jobs", headers=user, params={"limit": "1"})).json()
    other_sort = await api.client.get(
        "/jobs", headers=user, params={"sort": "filename", "cursor": first["next_cursor"]}
    )
    assert other_sort.status_code == 422 and other_sort.json()["error"]["code"] == "invalid_cursor"
    forged = base64.urlsafe_b64encode(
        json.dumps(["filename", "asc", "\x00", str(uuid.uuid4())]).encode()
    ).decode()
    for cursor in [forged, "bm90IGpzb24", "%%%"]:
        response = await api.client.get(
            "/jobs", headers=user, params={"sort": "filename", "order": "asc", "cursor": cursor}
        )
        assert response.status_code == 422, cursor
    for bad in [{"sort": "size"}, {"order": "up"}, {"all": "yes"}, {"q": "x" * 256}, {"q": "\x00"}]:
        response = await api.client.get("/jobs", headers=user, params=bad)
        assert response.status_code == 422, bad


async def test_queue_position_stage_and_eta(api: Api, video: bytes) -> None:
    user = await api.user()
    first = await upload(api, user, "first.mp4", video)
    second = await upload(api, user, "second.mp4", video)
    listed = {j["id"]: j for j in (await api.client.get("/jobs", headers=user)).json()["items"]}
    ahead = listed[first]["queue_position"]
    assert ahead >= 1 and listed[second]["queue_position"] == ahead + 1
    assert listed[first]["eta_seconds"] is None and listed[first]["stage"] is None
    await publish(
        api_env(api),
        JobStarted(job_id=first, worker_id="worker-7", attempt=1),
        JobProgress(job_id=first, attempt=1, progress=40, stage="transcode", fps=88.5, eta_s=30),
    )
    running = await job_when(api, user, first, "the progress tick applied", stage="transcode")
    assert running["status"] == "processing" and running["progress"] == 40
    assert running["queue_position"] is None and 0 <= running["eta_seconds"] <= 30
    moved = {j["id"]: j for j in (await api.client.get("/jobs", headers=user)).json()["items"]}
    assert moved[second]["queue_position"] == ahead


async def test_a_failed_job_says_why_with_a_code(api: Api, video: bytes) -> None:
    user = await api.user()
    job_id = await upload(api, user, "broken.mp4", video)
    await publish(
        api_env(api),
        JobStarted(job_id=job_id, worker_id="worker-1", attempt=1),
        JobFailed(
            job_id=job_id,
            error_code="invalid_input",
            message="the file has no video stream",
            retryable=False,
            attempt=1,
            worker_id="worker-1",
        ),
    )
    failed = await job_when(api, user, job_id, "the failure applied", status="failed")
    assert failed["error_code"] == "invalid_input"
    assert failed["error_message"] == "the file has no video stream"
    assert failed["stage"] is None and failed["eta_seconds"] is None


async def test_bulk_commands_are_owner_or_admin_per_job(api: Api, video: bytes) -> None:
    alice, bob = await api.user(), await api.user()
    a1 = await upload(api, alice, "a1.mp4", video)
    a2 = await upload(api, alice, "a2.mp4", video)
    b1 = await upload(api, bob, "b1.mp4", video)
    answer = await api.client.post(
        "/jobs/bulk",
        headers=alice,
        json={"action": "cancel", "job_ids": [a1, b1, a2, "not-an-id", a1]},
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["job_id"], r["ok"], r["code"]) for r in results] == [
        (a1, True, None),
        (b1, False, "not_found"),  # bob's job: as if it did not exist
        (a2, True, None),
        ("not-an-id", False, "not_found"),
    ]
    for job_id in (a1, a2):
        await job_when(api, alice, job_id, "cancel requested", cancel_requested=True)
    bobs = (await api.client.get(f"/jobs/{b1}", headers=bob)).json()
    assert bobs["status"] == "pending" and not bobs["cancel_requested"]
    early = await api.client.post(
        "/jobs/bulk", headers=alice, json={"action": "retry", "job_ids": [a1]}
    )
    assert early.json()["results"][0]["code"] == "illegal_state"  # pending: nothing to retry
    await publish(api_env(api), JobCancelled(job_id=a1, attempt=0))  # the transcoder's part
    await job_when(api, alice, a1, "cancelled", status="cancelled")
    retried = await api.client.post(
        "/jobs/bulk", headers=alice, json={"action": "retry", "job_ids": [a1]}
    )
    assert retried.json()["results"] == [{"job_id": a1, "ok": True, "error": None, "code": None}]
    await job_when(api, alice, a1, "retried", status="pending")
    admin = bearer(api, str(uuid.uuid4()), "admin")
    deleted = await api.client.post(
        "/jobs/bulk", headers=admin, json={"action": "delete", "job_ids": [a2, b1]}
    )
    assert [r["ok"] for r in deleted.json()["results"]] == [True, True]

    for job_id, owner in ((a2, alice), (b1, bob)):

        async def gone(job_id: str = job_id, owner: dict[str, str] = owner) -> bool:
            response = await api.client.get(f"/jobs/{job_id}", headers=owner)
            return response.status_code == 404

        await eventually(gone, timeout=30, message="the job deleted")


async def test_bulk_refuses_bad_bodies_and_strangers(api: Api) -> None:
    user = await api.user()
    for body in [
        {"action": "explode", "job_ids": [str(uuid.uuid4())]},
        {"action": "retry", "job_ids": []},
        {"action": "retry", "job_ids": [str(uuid.uuid4())] * 101},
        {"action": "retry"},
    ]:
        response = await api.client.post("/jobs/bulk", headers=user, json=body)
        assert response.status_code == 422, body
    anonymous = await api.client.post("/jobs/bulk", json={"action": "retry", "job_ids": ["x"]})
    assert anonymous.status_code == 401


async def test_only_admins_list_everyone(api: Api, video: bytes) -> None:
    user = await api.user()
    await upload(api, user, "mine.mp4", video)
    refused = await api.client.get("/jobs", headers=user, params={"all": "true"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    admin = bearer(api, str(uuid.uuid4()), "admin")
    everyone = (await api.client.get("/jobs", headers=admin, params={"all": "true"})).json()
    mine = [j for j in everyone["items"] if j["original_filename"] == "mine.mp4"]
    assert mine and mine[0]["username"] == user["X-User-Name"] and everyone["usage"] is None
    plain = (await api.client.get("/jobs", headers=user)).json()["items"]
    assert plain and all(j["username"] is None for j in plain)


def api_env(api: Api) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": api.settings.kafka_bootstrap_servers or "",
        "KAFKA_TOPIC_PREFIX": api.settings.topic_prefix,
    }
