"""Signed media URLs over real HTTP, on local storage and on S3 (moto in server mode).

The read model rows are written directly (no projector): what is under test is what
``/media/`` serves, and refuses, for a completed job's output tree.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urljoin

import asyncpg
import httpx
import pytest

from services.core.db.engine import plain_url
from services.core.storage import ObjectStore, keys, open_store
from services.core.storage.s3 import make_s3_client
from services.ingest.adapters.media_urls import MediaUrls, derive_key
from tests.support.ingest import Api

MASTER = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000\n360p/index.m3u8\n"
RUNG = '#EXTM3U\n#EXT-X-MAP:URI="init_0.mp4"\n#EXTINF:4.0,\nseg_00000.m4s\n#EXT-X-ENDLIST\n'
SEGMENT = bytes(range(256)) * 8
TREE = {
    "hls/master.m3u8": MASTER.encode(),
    "hls/360p/index.m3u8": RUNG.encode(),
    "hls/360p/init_0.mp4": b"init",
    "hls/360p/seg_00000.m4s": SEGMENT,
    "thumbnail.jpg": b"\xff\xd8jpeg",
}
PLAYER = {"Origin": "https://player.example"}


@pytest.fixture(params=["local", "s3"])
async def media_api(
    request: pytest.FixtureRequest, make_api: Callable[..., Any]
) -> AsyncIterator[tuple[Api, ObjectStore]]:
    overrides: dict[str, str] = {}
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = f"media-{uuid.uuid4().hex[:8]}"
        client = make_s3_client(endpoint, "us-east-1")
        client.create_bucket(Bucket=bucket)
        client.close()
        overrides = {"STORAGE_URL": f"s3://{bucket}/p", "S3_ENDPOINT_URL": endpoint}
    api: Api = await make_api(**overrides)
    store = open_store(api.settings.storage_url, s3_endpoint_url=api.settings.s3_endpoint_url)
    yield api, store
    store.close()


async def completed_job(api: Api, store: ObjectStore, user_id: str, attempt: int = 1) -> str:
    """A completed job in the read model whose HLS tree (and source) are in storage."""
    job_id = str(uuid.uuid4())
    await store.put_stream(keys.source_key(job_id), _chunks(b"the source"))
    outputs = []
    for name, data in TREE.items():
        stored = await store.put_stream(keys.output_key(job_id, attempt, name), _chunks(data))
        if not name.endswith((".m4s", "init_0.mp4")):  # like the transcoder: entry points only
            outputs.append({**_fields(stored.key, stored.content_type, len(data)), "name": name})
    conn = await asyncpg.connect(plain_url(api.settings.database_url or ""))
    try:
        await conn.execute(
            "INSERT INTO jobs (id, user_id, original_filename, file_path, status, outputs,"
            " progress, attempts) VALUES ($1, $2, 'clip.mp4', $3, 'completed', $4::jsonb, 100, $5)",
            job_id,
            user_id,
            keys.source_key(job_id),
            json.dumps(outputs),
            attempt,
        )
    finally:
        await conn.close()
    return job_id


def _fields(key: str, content_type: str, size: int) -> dict[str, Any]:
    return {"key": key, "content_type": content_type, "size_bytes": size}


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def fetch(api: Api, url: str, **headers: str) -> httpx.Response:
    """GET a media URL as a player does: no token, redirects followed (to S3)."""
    return await api.client.get(url, headers=headers, follow_redirects=True)


async def test_a_job_tree_plays_through_its_signed_urls(
    media_api: tuple[Api, ObjectStore],
) -> None:
    api, store = media_api
    headers = await api.user()
    job_id = await completed_job(api, store, headers["X-User-Id"])
    job = (await api.client.get(f"/jobs/{job_id}", headers=headers)).json()
    urls = {o["name"]: o["url"] for o in job["outputs"]}
    assert job["playback_url"] == urls["hls/master.m3u8"]
    listed = (await api.client.get("/jobs", headers=headers)).json()["items"][0]
    assert listed["playback_url"] == job["playback_url"], "same minute, same URL"

    master = await api.client.get(job["playback_url"], headers=PLAYER)
    assert master.status_code == 200, "a playlist is answered here, never redirected"
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert master.headers["access-control-allow-origin"] == "*"
    assert master.text == MASTER
    base = str(master.url)
    rung = await fetch(api, urljoin(base, "360p/index.m3u8"))
    assert rung.status_code == 200 and rung.text == RUNG
    init = await fetch(api, urljoin(str(rung.url), "init_0.mp4"))
    segment_url = urljoin(str(rung.url), "seg_00000.m4s")
    segment = await fetch(api, segment_url)
    assert (init.content, segment.content) == (b"init", SEGMENT)
    assert segment.headers["content-type"] == "video/iso.segment"
    part = await fetch(api, segment_url, Range="bytes=100-199")
    assert part.status_code == 206 and part.content == SEGMENT[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(SEGMENT)}"
    thumbnail = await fetch(api, urls["thumbnail.jpg"])
    assert thumbnail.headers["content-type"] == "image/jpeg"


async def test_forged_expired_and_foreign_urls_are_refused(
    media_api: tuple[Api, ObjectStore],
) -> None:
    api, store = media_api
    headers = await api.user()
    job_a = await completed_job(api, store, headers["X-User-Id"])
    job_b = await completed_job(api, store, headers["X-User-Id"], attempt=2)
    job = (await api.client.get(f"/jobs/{job_a}", headers=headers)).json()
    prefix, _, path = job["playback_url"].partition("/hls/")
    _, _, _, attempt, expires, signed = prefix.split("/")
    assert (await fetch(api, job["playback_url"])).status_code == 200

    def url(job_id: str = job_a, attempt: str = attempt, signed: str = signed, path: str = path):
        return f"/media/{job_id}/{attempt}/{expires}/{signed}/hls/{path}"

    forged = signed[:-1] + ("A" if signed[-1] != "A" else "B")
    for refused in (url(signed=forged), url(job_id=job_b), url(attempt="2"), url(signed="x")):
        answer = await fetch(api, refused)
        assert answer.status_code == 403, refused
        assert answer.json()["error"]["code"] == "invalid_signature"
    media = MediaUrls(derive_key(api.settings.secret()), api.settings.media_url_ttl_s)
    expired = media.url(job_a, 1, "hls/master.m3u8", time.time() - 2 * 3600)
    answer = await fetch(api, expired)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "expired_signature"

    # a genuine grant opens only its own attempt's tree, and only while that attempt counts
    tree = media.tree(job_a, 1, time.time())
    for outside in (
        f"hls/%2e%2e/%2e%2e/%2e%2e/%2e%2e/sources/{job_a}/source",
        f"..%2F..%2F..%2Fsources%2F{job_a}%2Fsource",
        "hls//master.m3u8",
        "hls/missing.m4s",
        "",
    ):
        assert (await fetch(api, tree + outside)).status_code == 404, outside
    stale = media.url(job_b, 1, "hls/master.m3u8", time.time())  # job B's outputs are attempt 2
    assert (await fetch(api, stale)).status_code == 404
    assert (await fetch(api, media.url(job_b, 2, "hls/master.m3u8", time.time()))).is_success


async def test_players_on_other_origins_get_cors_the_api_does_not(
    media_api: tuple[Api, ObjectStore],
) -> None:
    api, store = media_api
    headers = await api.user()
    job_id = await completed_job(api, store, headers["X-User-Id"])
    job = (await api.client.get(f"/jobs/{job_id}", headers={**headers, **PLAYER})).json()
    preflight = await api.client.options(
        job["playback_url"],
        headers={
            **PLAYER,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "range" in preflight.headers["access-control-allow-headers"].lower()
    api_answer = await api.client.get(f"/jobs/{job_id}", headers={**headers, **PLAYER})
    assert "access-control-allow-origin" not in api_answer.headers


async def test_deleting_a_job_closes_its_urls_and_removes_every_file(
    media_api: tuple[Api, ObjectStore],
) -> None:
    api, store = media_api
    headers = await api.user()
    job_id = await completed_job(api, store, headers["X-User-Id"])
    playback = (await api.client.get(f"/jobs/{job_id}", headers=headers)).json()["playback_url"]
    assert len(await store.list(keys.output_prefix(job_id))) == len(TREE)
    assert (await api.client.delete(f"/jobs/{job_id}", headers=headers)).status_code == 202
    assert await store.list(keys.output_prefix(job_id)) == []
    assert await store.list(keys.source_prefix(job_id)) == []
    assert (await fetch(api, playback)).status_code == 404
