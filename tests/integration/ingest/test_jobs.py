"""The jobs API over real HTTP, with a real projector building the read model from the log."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from schemas.envelope import new_envelope
from schemas.events import Event, JobCompleted, JobFailed, JobOutput, JobStarted
from services.core.kafka.clients import KafkaEventPublisher
from tests.support.eventually import eventually
from tests.support.infra import Infra, own_slice
from tests.support.ingest import Api, start_api
from tests.support.readmodel_stack import projector_process


@pytest.fixture(scope="module")
async def jobs_env(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, str]]:
    """One slice (database, topics, storage) for this module: tests isolate by user instead."""
    async with own_slice(infra, tmp_path_factory.mktemp("jobs"), MAX_FILE_SIZE="2MB") as env:
        yield env


@pytest.fixture(scope="module")
async def projector(jobs_env: dict[str, str]) -> AsyncIterator[None]:
    async with projector_process(jobs_env):
        yield


@pytest.fixture(scope="module")
async def api(jobs_env: dict[str, str], projector: None) -> AsyncIterator[Api]:
    api, stop = await start_api(jobs_env)
    yield api
    await stop()


async def publish(api: Api, *events: Event) -> None:
    publisher = KafkaEventPublisher(
        api.settings.kafka_bootstrap_servers or "", topic_prefix=api.settings.topic_prefix
    )
    await publisher.start()
    try:
        await publisher.publish_many([new_envelope(e, source="/test") for e in events])
    finally:
        await publisher.stop()


async def status_is(api: Api, headers: dict[str, str], job_id: str, status: str) -> None:
    async def check() -> bool:
        response = await api.client.get(f"/jobs/{job_id}", headers=headers)
        return response.status_code == 200 and response.json()["status"] == status

    await eventually(check, timeout=20, message=f"job {job_id} {status}")


async def complete(api: Api, job_id: str, content: bytes) -> None:
    """Play the transcoder's part through the log: start, store an output, complete."""
    root = Path(urlparse(api.settings.storage_url).path)
    key = f"outputs/{job_id}/1/h264-480p.mp4"
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    (root / key).write_bytes(content)
    await publish(
        api,
        JobStarted(job_id=job_id, worker_id="w1", attempt=1),
        JobCompleted(
            job_id=job_id,
            worker_id="w1",
            attempt=1,
            duration_ms=5,
            outputs=[
                JobOutput(
                    name="h264-480p", key=key, content_type="video/mp4", size_bytes=len(content)
                )
            ],
        ),
    )


async def test_read_your_writes_listing_and_pagination(api: Api, video: bytes) -> None:
    headers = await api.user()
    ids = []
    for n in range(3):
        response = await api.upload(headers, (f"clip{n}.mp4", video))
        assert response.status_code == 202
        job_id = response.json()["id"]
        found = await api.client.get(f"/jobs/{job_id}", headers=headers)
        assert found.status_code == 200, "GET straight after the 202 finds the job"
        assert found.json()["status"] == "pending" and found.json()["metadata"]["height"] == 120
        ids.append(job_id)
    page1 = (await api.client.get("/jobs?limit=2", headers=headers)).json()
    assert [j["id"] for j in page1["items"]] == ids[::-1][:2]
    page2 = (
        await api.client.get(f"/jobs?limit=2&cursor={page1['next_cursor']}", headers=headers)
    ).json()
    assert [j["id"] for j in page2["items"]] == [ids[0]] and page2["next_cursor"] is None
    assert (await api.client.get("/jobs?status=completed", headers=headers)).json()["items"] == []
    for bad in ("status=done", "limit=0", "limit=101", "limit=x", "cursor=nonsense"):
        assert (await api.client.get(f"/jobs?{bad}", headers=headers)).status_code == 422, bad


async def test_other_users_see_nothing(api: Api, video: bytes) -> None:
    owner, stranger = await api.user(), await api.user()
    job_id = (await api.upload(owner, ("mine.mp4", video))).json()["id"]
    await complete(api, job_id, b"output-bytes")
    await status_is(api, owner, job_id, "completed")
    for method, path in (
        ("GET", ""),
        ("GET", "/history"),
        ("GET", "/download"),
        ("DELETE", ""),
        ("POST", "/cancel"),
        ("POST", "/retry"),
        ("POST", "/reprocess"),
    ):
        response = await api.client.request(method, f"/jobs/{job_id}{path}", headers=stranger)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"error": {"code": "not_found", "message": "job not found"}}
    assert (await api.client.get("/jobs", headers=stranger)).json()["items"] == []
    assert (await api.client.get("/jobs/not-a-uuid", headers=owner)).status_code == 404


async def test_download_with_ranges(api: Api, video: bytes) -> None:
    headers = await api.user()
    job_id = (await api.upload(headers, ("movie.mp4", video))).json()["id"]
    early = await api.client.get(f"/jobs/{job_id}/download", headers=headers)
    assert early.status_code == 409
    content = bytes(range(256)) * 40
    await complete(api, job_id, content)
    await status_is(api, headers, job_id, "completed")
    job = (await api.client.get(f"/jobs/{job_id}", headers=headers)).json()
    assert job["progress"] == 100
    media_url = job["outputs"][0].pop("url")
    assert job["outputs"] == [
        {
            "name": "h264-480p",
            "content_type": "video/mp4",
            "size_bytes": len(content),
            "download_url": f"/jobs/{job_id}/download?output=h264-480p",
        }
    ]
    assert media_url == job["playback_url"] and media_url.startswith(f"/media/{job_id}/1/")
    whole = await api.client.get(job["outputs"][0]["download_url"], headers=headers)
    assert whole.status_code == 200 and whole.content == content
    assert "movie-h264-480p.mp4" in whole.headers["content-disposition"]
    played = await api.client.get(media_url)  # no token: the signature is the authorisation
    assert played.status_code == 200 and played.content == content
    assert "content-disposition" not in played.headers
    part = await api.client.get(
        f"/jobs/{job_id}/download", headers={**headers, "Range": "bytes=100-199"}
    )
    assert part.status_code == 206 and part.content == content[100:200]
    missing = await api.client.get(f"/jobs/{job_id}/download?output=nope", headers=headers)
    assert missing.status_code == 404


async def test_commands_follow_the_state_machine(api: Api, video: bytes) -> None:
    headers = await api.user()
    job_id = (await api.upload(headers, ("a.mp4", video))).json()["id"]
    assert (await api.client.post(f"/jobs/{job_id}/retry", headers=headers)).status_code == 409
    assert (
        await api.client.post(f"/jobs/{job_id}/reprocess", headers=headers, json={})
    ).status_code == 409
    cancel = await api.client.post(f"/jobs/{job_id}/cancel", headers=headers)
    assert cancel.status_code == 202
    job = (await api.client.get(f"/jobs/{job_id}", headers=headers)).json()
    assert job["cancel_requested"] is True
    await publish(
        api,
        JobFailed(
            job_id=job_id,
            error_code="invalid_input",
            message="bad frames",
            retryable=False,
            attempt=1,
        ),
    )
    await status_is(api, headers, job_id, "failed")
    failed = (await api.client.get(f"/jobs/{job_id}", headers=headers)).json()
    assert failed["error_message"] == "bad frames"
    assert (await api.client.post(f"/jobs/{job_id}/cancel", headers=headers)).status_code == 409
    assert (await api.client.post(f"/jobs/{job_id}/retry", headers=headers)).status_code == 202
    await status_is(api, headers, job_id, "pending")
    other = (await api.upload(headers, ("b.mp4", video))).json()["id"]
    await complete(api, other, b"x")
    await status_is(api, headers, other, "completed")
    bad = await api.client.post(
        f"/jobs/{other}/reprocess", headers=headers, json={"options": {"preset": "nope"}}
    )
    assert bad.status_code == 422
    again = await api.client.post(
        f"/jobs/{other}/reprocess", headers=headers, json={"options": {"preset": "vp9-720p"}}
    )
    assert again.status_code == 202
    await status_is(api, headers, other, "pending")
    job = (await api.client.get(f"/jobs/{other}", headers=headers)).json()
    assert job["processing_options"]["preset"] == "vp9-720p"
    history = await api.client.get(f"/jobs/{other}/history", headers=headers)
    assert history.status_code == 200 and isinstance(history.json()["items"], list)


async def test_delete_hides_the_job_and_removes_files(api: Api, video: bytes) -> None:
    headers = await api.user()
    job_id = (await api.upload(headers, ("gone.mp4", video))).json()["id"]
    await complete(api, job_id, b"out")
    await status_is(api, headers, job_id, "completed")
    root = Path(urlparse(api.settings.storage_url).path)
    mine = [root / "sources" / job_id, root / "outputs" / job_id]
    assert all(d.is_dir() and any(d.iterdir()) for d in mine)
    deleted = await api.client.delete(f"/jobs/{job_id}", headers=headers)
    assert deleted.status_code == 202
    assert (await api.client.get(f"/jobs/{job_id}", headers=headers)).status_code == 404
    assert (await api.client.get("/jobs", headers=headers)).json()["items"] == []
    assert [p for d in mine if d.exists() for p in d.rglob("*") if p.is_file()] == []


async def test_admin_sees_everyone(api: Api, video: bytes) -> None:
    from services.core.access.tokens import issue_access_token

    alice, bob = await api.user(), await api.user()
    a = (await api.upload(alice, ("a.mp4", video))).json()["id"]
    b = (await api.upload(bob, ("b.mp4", video))).json()["id"]
    admin = {
        "Authorization": "Bearer "
        + issue_access_token(api.settings.secret(), str(uuid.uuid4()), "admin")
    }
    page = (await api.client.get("/jobs?all=true", headers=admin)).json()
    assert {a, b} <= {j["id"] for j in page["items"]}
    assert {j["username"] for j in page["items"] if j["id"] in (a, b)} == {
        alice["X-User-Name"],
        bob["X-User-Name"],
    }
    own = (await api.client.get("/jobs", headers=admin)).json()["items"]
    assert own == []  # without all=true an admin lists their own jobs, like anyone
    only_bob = (await api.client.get(f"/jobs?user_id={bob['X-User-Id']}", headers=admin)).json()
    assert [j["id"] for j in only_bob["items"]] == [b]
    assert (await api.client.get(f"/jobs/{a}", headers=admin)).status_code == 200


def other_spellings(job_id: str) -> list[str]:
    """What ``uuid.UUID`` reads as the same id (URL-quoted where a path needs it), each
    different from ``job_id`` whatever its digits (an id may start with eight decimal ones)."""
    first_letter = next((i for i, c in enumerate(job_id) if c in "abcdef"), None)
    spellings = [
        job_id.upper(),
        "%7B" + job_id + "%7D",  # {...}
        "urn:uuid:" + job_id,
        job_id.replace("-", ""),
    ]
    if first_letter is not None:  # one letter in upper case
        i = first_letter
        spellings.append(job_id[:i] + job_id[i].upper() + job_id[i + 1 :])
    return [s for s in spellings if s != job_id]


async def test_other_spellings_of_a_job_id_are_404_on_every_route(api: Api, video: bytes) -> None:
    headers = await api.user()
    job_id = (await api.upload(headers, ("one-spelling.mp4", video))).json()["id"]
    await complete(api, job_id, b"out")
    await status_is(api, headers, job_id, "completed")
    root = Path(urlparse(api.settings.storage_url).path)
    mine = [root / "sources" / job_id, root / "outputs" / job_id]
    for spelling in other_spellings(job_id):
        for method, path in (
            ("GET", ""),
            ("GET", "/history"),
            ("GET", "/download"),
            ("DELETE", ""),
            ("POST", "/cancel"),
            ("POST", "/retry"),
            ("POST", "/reprocess"),
        ):
            response = await api.client.request(method, f"/jobs/{spelling}{path}", headers=headers)
            assert response.status_code == 404, (spelling, method, path, response.text)
            assert response.json()["error"]["code"] == "not_found"
        bulk = await api.client.post(
            "/jobs/bulk",
            json={
                "action": "delete",
                "job_ids": [spelling.replace("%7B", "{").replace("%7D", "}")],
            },
            headers=headers,
        )
        assert bulk.status_code == 200
        assert [r["code"] for r in bulk.json()["results"]] == ["not_found"], spelling
    # nothing happened to the job: it is still there, completed, with every file
    await status_is(api, headers, job_id, "completed")
    assert all(d.is_dir() and any(d.iterdir()) for d in mine)
    deleted = await api.client.delete(f"/jobs/{job_id}", headers=headers)
    assert deleted.status_code == 202
    assert [p for d in mine if d.exists() for p in d.rglob("*") if p.is_file()] == []
