"""tus uploads survive an ingest restart (a real ``vidpipe ingest`` process, killed mid-PATCH),
and resume on S3 storage too."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from services.core.runtime.process import free_port
from services.core.storage.s3 import make_s3_client
from tests.support.eventually import eventually
from tests.support.ingest import Api
from tests.support.tus_client import OFFSET_TYPE, TUS, Tus


@pytest.fixture
def ingest_process(ingest_env: dict[str, str]) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {**os.environ, **ingest_env, "PORT": str(port), "OPS_PORT": "0"}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "services.cli", "ingest"],
                env=env,
                stdout=subprocess.DEVNULL,
            )
        )
        return procs[-1]

    start.base = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


async def _healthy(client: httpx.AsyncClient) -> None:
    async def answers() -> bool:
        return (await client.get("/health")).status_code == 200

    await eventually(
        answers, timeout=30, message="ingest to start", ignoring=(httpx.TransportError,)
    )


async def test_an_upload_continues_after_ingest_is_killed_mid_patch(
    ingest_process: Callable[[], subprocess.Popen[bytes]],
    ingest_env: dict[str, str],
    video: bytes,
    running_projector: Callable[[], Any],
) -> None:
    ingest_env["UPLOAD_LEASE_S"] = "3"  # the killed process's lease on the upload lapses
    proc = ingest_process()
    async with httpx.AsyncClient(base_url=ingest_process.base, timeout=30) as client:  # type: ignore[attr-defined]
        await _healthy(client)
        api = Api(client, None)  # type: ignore[arg-type]
        tus = Tus(client, await api.user())
        url = (await tus.create(len(video), {"preset": "h264-480p"})).headers["Location"]
        first = len(video) // 3
        assert (await tus.patch(url, 0, video[:first])).status_code == 204
        sent_half = asyncio.Event()

        async def stalling() -> AsyncIterator[bytes]:
            yield video[first : first * 2]
            sent_half.set()
            await asyncio.Event().wait()  # the connection dies with the server

        headers = {**tus.auth, **TUS, **OFFSET_TYPE, "Upload-Offset": str(first)}
        patch = asyncio.create_task(client.patch(url, headers=headers, content=stalling()))
        await sent_half.wait()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        patch.cancel()  # the client is still sending: it learns nothing until it writes again
        with pytest.raises(asyncio.CancelledError):
            await patch
        ingest_process()
        await _healthy(client)
        head = await tus.head(url)
        assert head.status_code == 200 and int(head.headers["Upload-Offset"]) >= first
        offset = int(head.headers["Upload-Offset"])

        async def lease_lapsed() -> bool:  # 423 while the dead process's lease stands
            empty = await tus.patch(url, offset, b"")
            assert empty.status_code in (204, 423), empty.text
            return empty.status_code == 204

        await eventually(lease_lapsed, timeout=30, message="the dead holder's lease to lapse")
        done = await tus.send_from_stored_offset(url, video, chunk=len(video))
        async with running_projector():
            job = await tus.job(done)
    assert job["source_size"] == len(video) and job["processing_options"]["preset"] == "h264-480p"
    assert job["source_sha256"] == hashlib.sha256(video).hexdigest()


BUCKET = "vidpipe-tus"


@pytest.fixture
async def s3_api(make_api: Callable[..., Any], s3_endpoint: str) -> AsyncIterator[Api]:
    client = make_s3_client(s3_endpoint, "us-east-1")
    client.create_bucket(Bucket=BUCKET)
    prefix = f"p{uuid.uuid4().hex[:8]}"
    yield await make_api(STORAGE_URL=f"s3://{BUCKET}/{prefix}", S3_ENDPOINT_URL=s3_endpoint)
    client.close()


async def test_an_interrupted_upload_resumes_on_s3(
    s3_api: Api, video: bytes, running_projector: Callable[[], Any]
) -> None:
    user = await s3_api.user()
    tus = Tus(s3_api.client, user)
    url = (await tus.create(len(video))).headers["Location"]
    third = len(video) // 3
    assert (await tus.patch(url, 0, video[:third])).status_code == 204
    done = await tus.send_from_stored_offset(url, video, chunk=third)
    async with running_projector():
        job = await tus.job(done)
    direct = (await s3_api.upload(user, ("clip.mp4", video))).json()
    keys = ("metadata", "source_size", "source_sha256", "processing_options")
    assert {k: job[k] for k in keys} == {k: direct[k] for k in keys}
    assert job["metadata"]["video_codec"] == "h264", "probed through a presigned URL"
