"""A finished HLS job plays end to end through its signed URL, on local storage and on S3.

Real components throughout: ingest on a socket, the transcoder and the projector in-process
on the embedded broker and PostgreSQL, and ffmpeg reading the master playlist over HTTP with
every rendition mapped, so it fetches every segment. The server records each request it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.runtime.settings import Settings, resolve_ffmpeg
from services.core.stack.discovery import Endpoints
from services.core.storage import keys, open_store
from services.core.storage.s3 import make_s3_client
from services.ingest.app import create_app
from services.projector.bootstrap import run_projector
from services.transcoder.bootstrap import Transcoder, TranscoderConfig
from tests.support import media
from tests.support.eventually import eventually
from tests.support.ingest import Api, start_server

pytestmark = pytest.mark.slow

OPTIONS = {"format": "hls", "ladder": [144, 240]}  # two small rungs: quick, still a ladder
SECONDS = 9.0  # 4 s segments: three per rung


class Recorder:
    """ASGI wrapper: the path and status of every answered request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[tuple[str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, record if scope["type"] == "http" else send)


@contextlib.asynccontextmanager
async def pipeline(settings: Settings) -> AsyncIterator[tuple[Api, Recorder]]:
    """Ingest (recorded) on a socket, with a transcoder and a projector behind it."""
    endpoints = Endpoints(settings.database_url or "", settings.kafka_bootstrap_servers or "")
    started, stop = asyncio.Event(), asyncio.Event()
    projector = asyncio.create_task(
        run_projector(settings, endpoints, started=started, session_timeout_ms=1500)
    )
    config = TranscoderConfig(grace_period_s=5.0, session_timeout_ms=6000)
    worker = asyncio.create_task(Transcoder(settings, config).serve(stop))
    recorder = Recorder(create_app(settings))
    server, task, base = await start_server(recorder)
    client = httpx.AsyncClient(base_url=base, timeout=60)
    try:
        yield Api(client, settings), recorder
    finally:
        await client.aclose()
        server.should_exit = True
        stop.set()
        projector.cancel()
        await asyncio.gather(task, worker, projector, return_exceptions=True)


async def finished_job(api: Api, source: Path) -> tuple[dict[str, Any], dict[str, str]]:
    headers = await api.user()
    upload = await api.upload(
        headers, ("clip.mp4", source.read_bytes()), options=json.dumps(OPTIONS)
    )
    assert upload.status_code == 202, upload.text
    job_id = upload.json()["id"]

    async def completed() -> dict[str, Any] | None:
        job: dict[str, Any] = (await api.client.get(f"/jobs/{job_id}", headers=headers)).json()
        assert job["status"] in ("pending", "processing", "completed"), job
        return job if job["status"] == "completed" else None

    return await eventually(completed, timeout=240, message=f"job {job_id} completed"), headers


async def segments(api: Api, playback_url: str) -> list[str]:
    """The path of every file the ladder's playlists name (init and media segments)."""
    master = await api.client.get(playback_url)
    found: list[str] = []
    for rung in _uris(master.text, str(master.url)):
        playlist = await api.client.get(rung)
        found += [urlsplit(u).path for u in _uris(playlist.text, str(playlist.url))]
    return found


def _uris(playlist: str, base: str) -> list[str]:
    named = []
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            named.append(line.split('URI="', 1)[1].split('"', 1)[0])
        elif line and not line.startswith("#"):
            named.append(line)
    return [urljoin(base, uri) for uri in named]


async def play(url: str) -> None:
    """ffmpeg decodes every stream of every rendition of ``url`` (so it reads every segment)."""
    ffmpeg = await asyncio.create_subprocess_exec(
        resolve_ffmpeg(None),
        *("-nostdin", "-v", "error", "-i", url, "-map", "0", "-f", "null", "-"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(ffmpeg.communicate(), 120)
    assert ffmpeg.returncode == 0, stderr.decode()


@pytest.fixture(params=["local", "s3"])
def storage_env(request: pytest.FixtureRequest, test_env: dict[str, str]) -> dict[str, str]:
    if request.param == "local":
        return test_env
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"play-{uuid.uuid4().hex[:8]}"
    client = make_s3_client(endpoint, "us-east-1")
    client.create_bucket(Bucket=bucket)
    client.close()
    return {**test_env, "STORAGE_URL": f"s3://{bucket}/v", "S3_ENDPOINT_URL": endpoint}


async def test_an_hls_job_plays_through_its_signed_url(
    storage_env: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings.from_env(storage_env)
    on_s3 = settings.storage_url.startswith("s3://")
    source = media.make_video(tmp_path / "clip.mp4", seconds=SECONDS, size="320x240")
    async with pipeline(settings) as (api, recorder):
        job, headers = await finished_job(api, source)
        job_id, playback = job["id"], job["playback_url"]
        assert playback == job["outputs"][0]["url"] and playback.endswith("/hls/master.m3u8")
        files = await segments(api, playback)
        assert sum(f.endswith(".m4s") for f in files) == 6, files
        recorder.seen.clear()
        await play(str(api.client.base_url.join(playback)))
        served = {unquote(path): status for path, status in recorder.seen}
        # local: read here (ffmpeg asks for ranges); S3: redirected to a presigned URL
        expected = {307} if on_s3 else {200, 206}
        assert {f: served.get(f) in expected for f in files} == dict.fromkeys(files, True), served
        playlists = [s for p, s in served.items() if p.endswith(".m3u8")]
        assert len(playlists) == 3 and set(playlists) <= {200, 206}, "never redirected"
        await check_the_record_and_delete(api, settings, job_id, headers)


async def check_the_record_and_delete(
    api: Api, settings: Settings, job_id: str, headers: dict[str, str]
) -> None:
    """The store stage named every stored file; deleting the job removes them all."""
    store = open_store(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    try:
        history = (await api.client.get(f"/jobs/{job_id}/history", headers=headers)).json()
        stored = next(r for r in history["items"] if r["operation"] == "store")["metadata"]
        prefix = keys.output_prefix(job_id, 1)
        listed = [key.removeprefix(prefix) for key in await store.list(keys.output_prefix(job_id))]
        assert sorted(stored["stored"]) == listed and any(n.endswith(".m4s") for n in listed)
        assert (await api.client.delete(f"/jobs/{job_id}", headers=headers)).status_code == 202
        assert await store.list(keys.output_prefix(job_id)) == []
    finally:
        store.close()
