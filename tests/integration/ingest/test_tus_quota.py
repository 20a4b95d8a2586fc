"""The storage quota with tus: unfinished uploads reserve their ``Upload-Length``, completion
checks again, and the outputs of a user's jobs count (real PostgreSQL, HTTP and storage)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from services.core.db.engine import plain_url
from tests.support.ingest import Api
from tests.support.tus_client import Tus


async def _stored_job(api: Api, user_id: str, source: int, outputs: int) -> str:
    """A completed job in the read model whose source and outputs take these many bytes."""
    job_id = str(uuid.uuid4())
    conn = await asyncpg.connect(plain_url(api.settings.database_url or ""))
    try:
        await conn.execute(
            "INSERT INTO jobs (id, user_id, original_filename, file_path, status, attempts,"
            " source_size) VALUES ($1, $2, 'a.mp4', 'sources/x', 'completed', 1, $3)",
            job_id,
            user_id,
            source,
        )
        for attempt, size in ((0, 10**9), (1, outputs)):  # only the latest attempt's count
            await conn.execute(
                "INSERT INTO processing_history (job_id, event_id, operation, status, attempt,"
                " metadata) VALUES ($1, $2, 'store', 'ok', $3, $4::jsonb)",
                job_id,
                str(uuid.uuid4()),
                attempt,
                json.dumps({"files": 3, "bytes": size}),
            )
    finally:
        await conn.close()
    return job_id


async def _delete_job(api: Api, job_id: str) -> None:
    conn = await asyncpg.connect(plain_url(api.settings.database_url or ""))
    try:
        await conn.execute("UPDATE jobs SET deleted_at = now() WHERE id = $1", job_id)
    finally:
        await conn.close()


async def test_unfinished_uploads_reserve_their_length(make_api: Callable[..., Any]) -> None:
    api = await make_api(USER_STORAGE_QUOTA="1000")
    user = await api.user()
    tus = Tus(api.client, user)
    first = await tus.create(600)
    assert first.status_code == 201, first.text
    second = await tus.create(600)
    assert second.status_code == 413 and second.json()["error"]["code"] == "storage_quota"
    assert "reserve 600" in second.json()["error"]["message"]
    multipart = await api.upload(user, ("clip.mp4", b"x" * 500))
    assert multipart.status_code == 413, "a multipart upload sees the reservation too"
    usage = (await api.client.get("/jobs", headers=user)).json()["usage"]
    assert usage["reserved_bytes"] == 600 and usage["storage_bytes"] == 0
    assert (await tus.delete(first.headers["Location"])).status_code == 204
    assert (await tus.create(600)).status_code == 201, "terminating frees the reservation"


async def test_outputs_count_towards_the_quota(make_api: Callable[..., Any]) -> None:
    api = await make_api(USER_STORAGE_QUOTA="1000")
    user = await api.user()
    job_id = await _stored_job(api, user["X-User-Id"], source=100, outputs=800)
    usage = (await api.client.get("/jobs", headers=user)).json()["usage"]
    assert usage["storage_bytes"] == 900
    tus = Tus(api.client, user)
    assert (await tus.create(200)).status_code == 413
    await _delete_job(api, job_id)
    assert (await tus.create(200)).status_code == 201


async def test_completion_checks_the_quota_again_and_keeps_the_upload(
    make_api: Callable[..., Any], video: bytes
) -> None:
    api = await make_api(USER_STORAGE_QUOTA=str(len(video) + 1000))
    user = await api.user()
    tus = Tus(api.client, user)
    url = (await tus.create(len(video))).headers["Location"]
    assert (await tus.patch(url, 0, video[:-10])).status_code == 204
    job_id = await _stored_job(api, user["X-User-Id"], source=0, outputs=2000)  # outputs grew
    over = await tus.patch(url, len(video) - 10, video[-10:])
    assert over.status_code == 413 and over.json()["error"]["code"] == "storage_quota", over.text
    assert over.headers["Upload-Offset"] == str(len(video)), "the bytes are kept"
    await _delete_job(api, job_id)
    done = await tus.patch(url, len(video), b"")  # room again: an empty PATCH finishes it
    assert done.status_code == 204 and done.headers["Upload-Job-Id"], done.text
