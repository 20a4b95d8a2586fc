"""Stalled tus PATCHes against the real ingest app (real PostgreSQL, storage, HTTP), then against
a whole ``vidpipe up``: 25 bodies trickling a byte at a time from two accounts must not take the
database from anyone else."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from services.core.db.engine import plain_url
from services.core.storage import keys, open_store
from services.ingest.metrics import UPLOAD_BYTES
from tests.support.eventually import eventually
from tests.support.ingest import Api, start_api
from tests.support.media import make_video
from tests.support.tus_client import RawPatch, Tus
from tests.support.up import Up
from tests.support.up import User as UpUser

STALLED = 25  # more than the pool's 10 + 10 connections
LENGTH = 10_000_000


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _job_with_media(api: Api, user_id: str) -> str:
    """A completed job of ``user_id`` with one stored output (no transcoder needed)."""
    job_id = str(uuid.uuid4())
    store = open_store(api.settings.storage_url)
    try:
        stored = await store.put_stream(keys.output_key(job_id, 1, "thumbnail.jpg"), _chunks(b"j"))
    finally:
        store.close()
    output = {"name": "thumbnail.jpg", "key": stored.key, "content_type": "image/jpeg"}
    conn = await asyncpg.connect(plain_url(api.settings.database_url or ""))
    try:
        await conn.execute(
            "INSERT INTO jobs (id, user_id, original_filename, file_path, status, outputs,"
            " progress, attempts) VALUES ($1, $2, 'a.mp4', $3, 'completed', $4::jsonb, 100, 1)",
            job_id,
            user_id,
            keys.source_key(job_id),
            json.dumps([output | {"size_bytes": 1}]),
        )
    finally:
        await conn.close()
    return job_id


async def _timed(what: str, request: Any) -> httpx.Response:
    started = time.monotonic()
    response: httpx.Response = await request
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"{what} took {elapsed:.2f} s while uploads stall"
    return response


@contextlib.asynccontextmanager
async def trickling_patches(base: str, attackers: list[Tus]) -> AsyncIterator[None]:
    """``STALLED`` uploads created by ``attackers`` in turn, each PATCHed on its own socket with
    a byte every half second and never finished, for the body of the ``async with``."""
    patches: list[RawPatch] = []
    trickle: asyncio.Task[None] | None = None
    try:
        for n in range(STALLED):
            tus = attackers[n % len(attackers)]
            url = (await tus.create(LENGTH)).headers["Location"]
            patch = await RawPatch.open(base, url, {**tus.auth, "Upload-Offset": "0"}, LENGTH)
            await patch.send(b"x")
            patches.append(patch)

        async def trickling() -> None:
            while True:
                await asyncio.sleep(0.5)  # the attack's pace, not a synchronisation
                for patch in patches:
                    await patch.send(b"x")

        trickle = asyncio.create_task(trickling())
        yield
    finally:
        if trickle is not None:
            trickle.cancel()
        for patch in patches:
            await patch.close()


async def test_25_trickling_patches_leave_login_jobs_and_media_to_others(
    test_env: dict[str, str],
) -> None:
    env = {
        **test_env,
        "RATE_LIMIT_PER_MINUTE": "0",
        "USER_RATE_LIMIT_PER_MINUTE": "0",
        "AUTH_RATE_LIMIT_PER_MINUTE": "0",
        "MAX_FILE_SIZE": "100MB",
        "MAX_UNFINISHED_UPLOADS": "100",
        # the caps would refuse most of these PATCHes: lift them, to show no PATCH holds a
        # database connection while its body streams (the caps have their own tests)
        "UPLOAD_PATCHES_PER_USER": "100",
        "READ_YOUR_WRITES_TIMEOUT_MS": "100",
    }
    api, stop = await start_api(env)
    try:
        attackers = [Tus(api.client, await api.user()) for _ in range(2)]
        victim = await api.register()
        victim_auth = {
            "Authorization": f"Bearer {(await api.login(victim['username']))['access_token']}"
        }
        job_id = await _job_with_media(api, victim["id"])
        before = UPLOAD_BYTES._value.get()
        async with trickling_patches(str(api.client.base_url), attackers):

            def streaming() -> bool:  # at least as many bodies stream as the pool has connections
                return UPLOAD_BYTES._value.get() - before >= 20

            await eventually(streaming, timeout=30, message="the stalled PATCHes to stream")
            login = api.client.post(
                "/auth/login", json={"username": victim["username"], "password": "correct horse"}
            )
            assert (await _timed("login", login)).status_code == 200
            listed = await _timed("GET /jobs", api.client.get("/jobs", headers=victim_auth))
            assert listed.status_code == 200 and listed.json()["items"][0]["id"] == job_id
            media_url = listed.json()["items"][0]["outputs"][0]["url"]
            media = await _timed("a media URL", api.client.get(media_url))
            assert media.status_code == 200 and media.content == b"j"
            tus = Tus(api.client, victim_auth)
            created = await _timed("a tus creation", tus.create(1000))
            assert created.status_code == 201, created.text
    finally:
        await stop()


def _upload_bytes(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("upload_bytes_total "):
            return float(line.split()[1])
    return 0.0


async def test_the_same_attack_on_vidpipe_up_leaves_another_user_answered(tmp_path: Path) -> None:
    """The same 25 trickling PATCHes against a whole ``vidpipe up`` (ingest in its composed web
    process, with its own pools): another user's login, job list, media URL (of a job the
    stack really transcoded) and tus creation each answer in under a second."""
    env = {
        "RATE_LIMIT_PER_MINUTE": "0",
        "USER_RATE_LIMIT_PER_MINUTE": "0",
        "AUTH_RATE_LIMIT_PER_MINUTE": "0",
        "REGISTRATION_PER_HOUR": "0",
        "MAX_UNFINISHED_UPLOADS": "100",
        "UPLOAD_PATCHES_PER_USER": "100",  # as above: the caps have their own tests
    }
    up = Up(tmp_path / "up", env=env)
    try:
        up.wait_ready()
        base = up.address("ingest")
        web = json.loads((tmp_path / "up" / "stack.json").read_text())["services"]["web"]
        metrics_url = f"http://127.0.0.1:{web['ops_port']}/metrics"
        victim = await UpUser.register(base, "victim")
        source = make_video(tmp_path / "clip.mp4", seconds=1.0)
        job = await victim.completed(await victim.upload(source), timeout_s=120)
        media_url = job["outputs"][0]["url"]
        attackers = [await UpUser.register(base, f"attacker{n}") for n in range(2)]
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            before = _upload_bytes((await client.get(metrics_url)).text)
            async with trickling_patches(base, [Tus(client, a.headers) for a in attackers]):

                async def streaming() -> bool:  # as many bodies stream as the pool has connections
                    return _upload_bytes((await client.get(metrics_url)).text) - before >= 20

                await eventually(streaming, timeout=30, message="the stalled PATCHes to stream")
                login = client.post(
                    "/auth/login", json={"username": "victim", "password": "password123"}
                )
                assert (await _timed("login", login)).status_code == 200
                listed = await _timed("GET /jobs", client.get("/jobs", headers=victim.headers))
                assert listed.status_code == 200
                assert [j["id"] for j in listed.json()["items"]] == [job["id"]]
                media = await _timed("a media URL", client.get(media_url))
                assert media.status_code == 200 and media.content
                created = await _timed("a tus creation", Tus(client, victim.headers).create(1000))
                assert created.status_code == 201, created.text
    except BaseException:
        up.dump()
        raise
    finally:
        up.stop()
