"""Two independent tus clients against the real server: tus-js-client (what the web app uses,
run by node) and tuspy. Each sends a file in several PATCHes and learns its job from the final
answer (204, ``Upload-Job-Id``)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from tusclient.client import TusClient

from tests.support.ingest import Api
from tests.support.tus_client import Tus

HERE = Path(__file__).parent
TUS_JS = HERE.parents[2] / "web" / "node_modules" / "tus-js-client"


async def test_tus_js_client_uploads_and_reads_the_job_id(
    api: Api, video: bytes, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node and TUS_JS.exists(), "node and web/node_modules (`make web-check`) are needed"
    user = await api.user()
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(video)
    endpoint = f"{api.client.base_url}/uploads/"
    token = user["Authorization"].removeprefix("Bearer ")
    proc = await asyncio.create_subprocess_exec(
        node,
        str(HERE / "tus_js_upload.cjs"),
        endpoint,
        token,
        str(clip),
        str(len(video) // 3 + 1),  # three PATCHes
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    answer = json.loads(out)
    assert answer["status"] == 204 and answer["offset"] == str(len(video))
    await _check_job(api, user, answer["url"], answer["jobId"])


async def test_tuspy_uploads_and_reads_the_job_id(api: Api, video: bytes, tmp_path: Path) -> None:
    user = await api.user()
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(video)
    client = TusClient(
        f"{api.client.base_url}/uploads/", headers={"Authorization": user["Authorization"]}
    )
    with clip.open("rb") as stream:
        uploader = client.uploader(
            file_stream=stream, chunk_size=len(video) // 3 + 1, metadata={"filename": "clip.mp4"}
        )
        await asyncio.to_thread(uploader.upload)  # tuspy blocks; the server runs on this loop
    assert uploader.request is not None
    assert uploader.request.status_code == 204
    headers = uploader.request.response_headers
    assert headers["upload-offset"] == str(len(video))
    await _check_job(api, user, str(uploader.url), headers["upload-job-id"])


async def _check_job(api: Api, user: dict[str, str], url: str, job_id: str) -> None:
    """HEAD on the upload names the same job (the server submitted it)."""
    head = await Tus(api.client, user).head(url)
    assert head.status_code == 200, head.headers
    assert head.headers["Upload-Job-Id"] == job_id and job_id
