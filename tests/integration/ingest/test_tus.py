"""tus resumable uploads over real HTTP, real storage, the real broker and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.core.db.engine import plain_url
from tests.support.eventually import eventually
from tests.support.ingest import Api, stored_files
from tests.support.tus_client import OFFSET_TYPE, TUS, Tus, checksum

OPTIONS = {"preset": "h264-480p"}
SAME = ("original_filename", "processing_options", "metadata", "source_size", "source_sha256")


async def test_an_interrupted_upload_resumes_into_the_job_a_multipart_upload_makes(
    api: Api, video: bytes, running_projector: Callable[[], Any]
) -> None:
    user = await api.user()
    tus = Tus(api.client, user)
    created = await tus.create(len(video), OPTIONS)
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    assert created.json()["offset"] == 0 and created.headers["Upload-Expires"].endswith("GMT")
    half = len(video) // 2
    first = await tus.patch(
        url, 0, video[: half // 2], Upload_Checksum=checksum(video[: half // 2])
    )
    assert first.status_code == 204 and first.headers["Upload-Offset"] == str(half // 2)
    second = await tus.patch(url, half // 2, video[half // 2 : half])
    assert second.status_code == 204 and second.headers["Tus-Resumable"] == "1.0.0"
    # the client goes away; a new one (another connection) picks the upload up
    async with api.client.__class__(base_url=api.client.base_url, timeout=30) as fresh:
        done = await Tus(fresh, user).send_from_stored_offset(url, video, chunk=len(video) // 3)
    assert done.status_code == 204 and not done.content, "tus 1.0: a successful PATCH is 204"
    assert done.headers["Link"] == f'</jobs/{done.headers["Upload-Job-Id"]}>; rel="related"'
    async with running_projector():
        job = await Tus(api.client, user).job(done)
    assert job["status"] == "pending"
    direct = (await api.upload(user, ("clip.mp4", video), options='{"preset":"h264-480p"}')).json()
    assert {k: job[k] for k in SAME} == {k: direct[k] for k in SAME}
    head = await tus.head(url)
    assert head.status_code == 200 and head.headers["Upload-Job-Id"] == job["id"]
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(video))
    names = sorted(p.name for p in stored_files(api))
    assert names == ["source", "source"], "the tus source and the multipart one, nothing else"


async def test_one_request_can_create_and_complete(api: Api, video: bytes) -> None:
    tus = Tus(api.client, await api.user())
    headers = {**tus.auth, **TUS, **OFFSET_TYPE, "Upload-Length": str(len(video))}
    created = await api.client.post("/uploads/", headers=headers, content=video)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["job"]["id"] == created.headers["Upload-Job-Id"] and body["expires_at"] is None
    assert body["job"]["original_filename"] == "upload"


async def test_checksum_and_offset_mismatches_change_nothing(api: Api, video: bytes) -> None:
    tus = Tus(api.client, await api.user())
    url = (await tus.create(len(video))).headers["Location"]
    chunk = video[:1000]
    assert (
        await tus.patch(url, 0, chunk, Upload_Checksum=checksum(chunk, "sha1"))
    ).status_code == 204
    bad = await tus.patch(url, 1000, video[1000:2000], Upload_Checksum=checksum(b"other"))
    assert bad.status_code == 460 and bad.json()["error"]["code"] == "checksum_mismatch"
    assert (await tus.head(url)).headers["Upload-Offset"] == "1000"
    behind = await tus.patch(url, 0, chunk)
    assert behind.status_code == 409 and behind.headers["Upload-Offset"] == "1000"
    assert behind.json()["error"]["code"] == "offset_mismatch"
    md5 = await tus.patch(url, 1000, b"x", Upload_Checksum="md5 AAAAAAAAAAAAAAAAAAAAAA==")
    assert md5.status_code == 400
    wrong_type = await tus.patch(url, 1000, b"x", Content_Type="application/json")
    assert wrong_type.status_code == 415 and wrong_type.json()["error"]
    no_version = await api.client.head(url, headers=tus.auth)
    assert no_version.status_code == 412 and no_version.headers["Tus-Version"] == "1.0.0"
    assert (await tus.head(url)).headers["Upload-Offset"] == "1000"
    rest = await tus.patch(url, 1000, video[1000:])
    assert rest.status_code == 204 and rest.headers["Upload-Job-Id"], rest.text


async def test_limits(make_api: Callable[..., Any], video: bytes) -> None:
    api = await make_api(MAX_UNFINISHED_UPLOADS="2")
    tus = Tus(api.client, await api.user())
    too_big = await tus.create(2_000_001)
    assert too_big.status_code == 413 and "MAX_FILE_SIZE" in too_big.json()["error"]["message"]
    url = (await tus.create(10)).headers["Location"]
    beyond = await tus.patch(url, 0, b"x" * 11)
    assert beyond.status_code == 413 and (await tus.head(url)).headers["Upload-Offset"] == "0"
    bad_options = await tus.create(10, {"preset": "nope"})
    assert bad_options.status_code == 422
    assert (await tus.create(10)).status_code == 201
    third = await tus.create(10)
    assert third.status_code == 403 and "MAX_UNFINISHED_UPLOADS" in third.json()["error"]["message"]
    assert (await tus.delete(url)).status_code == 204
    assert (await tus.create(10)).status_code == 201


async def test_another_users_upload_is_not_found(api: Api, video: bytes) -> None:
    owner, stranger = Tus(api.client, await api.user()), Tus(api.client, await api.user())
    url = (await owner.create(len(video))).headers["Location"]
    assert (await stranger.head(url)).status_code == 404
    patch = await stranger.patch(url, 0, video)
    assert patch.status_code == 404 and patch.json()["error"]["code"] == "not_found"
    assert (await stranger.delete(url)).status_code == 404
    assert (await owner.head("/uploads/00000000-0000-0000-0000-000000000000")).status_code == 404
    assert (await owner.head(url)).headers["Upload-Offset"] == "0"


async def test_termination_removes_the_bytes(api: Api, video: bytes) -> None:
    tus = Tus(api.client, await api.user())
    url = (await tus.create(len(video))).headers["Location"]
    assert (await tus.patch(url, 0, video[:2000])).status_code == 204
    assert [p.name for p in _all_files(api)] == [".partial-tus-source"]
    assert (await tus.delete(url)).status_code == 204
    assert _all_files(api) == []
    assert (await tus.head(url)).status_code == 404


async def test_not_a_video_is_refused_at_the_last_byte(api: Api) -> None:
    tus = Tus(api.client, await api.user())
    data = b"%PDF-1.4 not a video" * 10
    url = (await tus.create(len(data))).headers["Location"]
    refused = await tus.patch(url, 0, data)
    assert refused.status_code == 415 and refused.json()["error"]["code"] == "not_a_video"
    assert _all_files(api) == [] and (await tus.head(url)).status_code == 404


async def test_expired_uploads_answer_410_then_the_sweep_removes_them(
    make_api: Callable[..., Any], video: bytes
) -> None:
    api = await make_api(UPLOAD_SWEEP_INTERVAL_MS="50")
    tus = Tus(api.client, await api.user())
    url = (await tus.create(len(video))).headers["Location"]
    assert (await tus.patch(url, 0, video[:2000])).status_code == 204
    kept = (await tus.create(len(video))).headers["Location"]
    await _expire(api, url.rsplit("/", 1)[1])
    head = await tus.head(url)
    assert head.status_code in (404, 410)

    async def swept() -> bool:
        return (await tus.head(url)).status_code == 404

    await eventually(swept, timeout=10, message="the sweep to run")
    assert _all_files(api) == [], (await tus.head(kept)).headers
    assert (await tus.head(kept)).status_code == 200


async def _expire(api: Api, upload_id: str) -> None:
    conn = await asyncpg.connect(plain_url(api.settings.database_url or ""))
    try:
        await conn.execute(
            "UPDATE uploads SET expires_at = $2 WHERE id = $1",
            upload_id,
            datetime(2000, 1, 1, tzinfo=UTC),
        )
    finally:
        await conn.close()


def _all_files(api: Api) -> list[Path]:
    root = Path(api.settings.storage_url.removeprefix("file://"))
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_the_storage_quota_bounds_a_new_upload_before_a_byte_is_sent(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api(USER_STORAGE_QUOTA="1000")
    tus = Tus(api.client, await api.user())
    over = await tus.create(1001)
    assert over.status_code == 413 and over.json()["error"]["code"] == "storage_quota"
    assert "USER_STORAGE_QUOTA" in over.json()["error"]["message"]
    assert "Location" not in over.headers and stored_files(api) == []
    assert (await tus.create(1000)).status_code == 201
