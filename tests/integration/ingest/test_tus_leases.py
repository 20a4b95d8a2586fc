"""The lease a tus PATCH holds on its upload, the caps on concurrent PATCHes and the stall
cut-off, over real HTTP (raw sockets for stalled clients) and real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from services.core.db.engine import create_engine, plain_url
from services.ingest.adapters.upload_records import UploadRecords
from tests.support.eventually import eventually
from tests.support.ingest import Api
from tests.support.tus_client import RawPatch, Tus

LENGTH = 100_000


async def _lease(api: Api, upload_id: str) -> str | None:
    conn = await asyncpg.connect(plain_url(api.settings.database_url or ""))
    try:
        holder: str | None = await conn.fetchval(
            "SELECT lease_holder FROM uploads WHERE id = $1", upload_id
        )
        return holder
    finally:
        await conn.close()


@asynccontextmanager
async def stalled(
    api: Api, tus: Tus, url: str, first: bytes, content_length: int = LENGTH
) -> AsyncIterator[RawPatch]:
    """A PATCH from offset 0 that sent ``first`` and then nothing, holding the lease."""
    patch = await RawPatch.open(
        str(api.client.base_url), url, {**tus.auth, "Upload-Offset": "0"}, content_length
    )
    upload_id = url.rsplit("/", 1)[1]
    try:
        await patch.send(first)
        await eventually(lambda: _lease(api, upload_id), message="the PATCH to hold the lease")
        yield patch
    finally:
        await patch.close()

    async def released() -> bool:  # the client went away: the server keeps what came, lets go
        return await _lease(api, upload_id) is None

    await eventually(released, message="the lease to be released")


async def _upload(tus: Tus) -> str:
    created = await tus.create(LENGTH)
    assert created.status_code == 201, created.text
    return str(created.headers["Location"])


async def test_a_second_patch_on_a_leased_upload_answers_423_then_proceeds(api: Api) -> None:
    tus = Tus(api.client, await api.user())
    url = await _upload(tus)
    async with stalled(api, tus, url, b"a" * 1000, LENGTH - 1) as first:
        second = await tus.patch(url, 0, b"b" * 1000)
        assert second.status_code == 423, second.text
        assert second.json()["error"]["code"] == "upload_locked"
        await first.send(b"a" * (LENGTH - 1000 - 1))  # one byte short: no job is submitted
        status, headers, _ = await first.response()
        assert status == 204 and headers["upload-offset"] == str(LENGTH - 1)
    assert await _lease(api, url.rsplit("/", 1)[1]) is None, "released at the end"
    last = await tus.patch(url, LENGTH - 1, b"b")
    assert last.status_code in (204, 415), last.text  # 100 kB of "a" is not a video: 415


async def test_the_lease_of_a_holder_that_died_lapses_and_the_upload_resumes(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api(UPLOAD_LEASE_S="2")
    tus = Tus(api.client, await api.user())
    url = await _upload(tus)
    upload_id = url.rsplit("/", 1)[1]
    engine = create_engine(api.settings.database_url or "", pool_size=1)
    try:  # a process claims the lease, then dies: it never renews nor releases it
        claimed = await UploadRecords(engine).claim(upload_id, "dead", 2, user_cap=None)
        assert not isinstance(claimed, str) and claimed.id == upload_id
    finally:
        await engine.dispose()
    blocked = await tus.patch(url, 0, b"x" * 1000)
    assert blocked.status_code == 423, blocked.text

    async def resumed() -> bool:
        response = await tus.patch(url, 0, b"x" * 1000)
        assert response.status_code in (204, 423), response.text
        return response.status_code == 204

    await eventually(resumed, timeout=15, message="the dead holder's lease to lapse")
    assert (await tus.head(url)).headers["Upload-Offset"] == "1000"


async def test_concurrent_patches_are_capped_per_user_with_429(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api(UPLOAD_PATCHES_PER_USER="2")
    tus = Tus(api.client, await api.user())
    urls = [await _upload(tus) for _ in range(3)]
    async with stalled(api, tus, urls[0], b"a"), stalled(api, tus, urls[1], b"a"):
        third = await tus.patch(urls[2], 0, b"c" * 100)
        assert third.status_code == 429 and third.headers["Retry-After"] == "1", third.text
        error = third.json()["error"]
        assert error["code"] == "too_many_upload_writes"
        assert "UPLOAD_PATCHES_PER_USER" in error["message"]
        other = Tus(api.client, await api.user())
        assert (await other.patch(await _upload(other), 0, b"o" * 100)).status_code == 204
    assert (await tus.patch(urls[2], 0, b"c" * 100)).status_code == 204


async def test_concurrent_patches_are_capped_per_process_with_429(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api(UPLOAD_PATCHES_PER_PROCESS="1")
    tus = Tus(api.client, await api.user())
    url = await _upload(tus)
    other = Tus(api.client, await api.user())
    other_url = await _upload(other)
    async with stalled(api, tus, url, b"a"):
        refused = await other.patch(other_url, 0, b"o" * 100)
        assert refused.status_code == 429, refused.text
        assert "UPLOAD_PATCHES_PER_PROCESS" in refused.json()["error"]["message"]
    assert (await other.patch(other_url, 0, b"o" * 100)).status_code == 204


async def test_a_stalled_patch_is_cut_off_and_keeps_what_arrived(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api(UPLOAD_STALL_TIMEOUT_S="1")
    tus = Tus(api.client, await api.user())
    url = await _upload(tus)
    patch = await RawPatch.open(
        str(api.client.base_url), url, {**tus.auth, "Upload-Offset": "0"}, LENGTH
    )
    try:
        await patch.send(b"s" * 1234)  # then nothing: the server must not wait forever
        status, headers, body = await patch.response()
    finally:
        await patch.close()
    assert status == 408 and headers["upload-offset"] == "1234", body
    error = json.loads(body)["error"]
    assert error["code"] == "upload_stalled" and "UPLOAD_STALL_TIMEOUT_S" in error["message"]
    assert (await tus.head(url)).headers["Upload-Offset"] == "1234"
    resumed = await tus.patch(url, 1234, b"s" * 100)
    assert resumed.status_code == 204 and resumed.headers["Upload-Offset"] == "1334"
