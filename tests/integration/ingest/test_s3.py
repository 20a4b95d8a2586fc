"""Ingest on S3 storage (moto in server mode): probing through presigned URLs, redirects."""

from __future__ import annotations

import hashlib
import json
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from services.core.db.engine import plain_url
from services.core.storage.s3 import make_s3_client
from tests.support.ingest import Api

BUCKET = "vidpipe-ingest"


@pytest.fixture
async def s3_api(make_api: Callable[..., Any], s3_endpoint: str) -> AsyncIterator[tuple[Api, Any]]:
    client = make_s3_client(s3_endpoint, "us-east-1")
    client.create_bucket(Bucket=BUCKET)
    prefix = f"p{uuid.uuid4().hex[:8]}"
    api = await make_api(STORAGE_URL=f"s3://{BUCKET}/{prefix}", S3_ENDPOINT_URL=s3_endpoint)
    yield (
        api,
        lambda: [
            o["Key"]
            for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        ],
    )
    client.close()


async def test_upload_and_download_through_s3(
    s3_api: tuple[Api, Any], video: bytes, db_url: str
) -> None:
    api, keys = s3_api
    headers = await api.user()
    response = await api.upload(headers, ("clip.mp4", video))
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["metadata"]["video_codec"] == "h264", "probed through a presigned URL"
    assert [k.split("/", 1)[1] for k in keys()] == [f"sources/{job['id']}/source"]

    too_big = await api.upload(headers, ("big.mp4", b"\0" * 2_000_001))
    assert too_big.status_code == 413 and len(keys()) == 1
    not_video = await api.upload(headers, ("doc.mp4", b"%PDF-1.4 nothing here"))
    assert not_video.status_code == 415 and len(keys()) == 1

    # test setup: a completed job in the read model whose output is the uploaded source
    output = {
        "name": "h264-480p",
        "key": f"sources/{job['id']}/source",
        "content_type": "video/mp4",
        "size_bytes": len(video),
    }
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        await conn.execute(
            "INSERT INTO jobs"
            " (id, user_id, original_filename, file_path, status, outputs, progress) VALUES"
            " ($1, $2, 'clip.mp4', $3, 'completed', $4::jsonb, 100)",
            job["id"],
            headers["X-User-Id"],
            output["key"],
            json.dumps([output]),
        )
    finally:
        await conn.close()
    redirect = await api.client.get(f"/jobs/{job['id']}/download", headers=headers)
    assert redirect.status_code == 307
    location = redirect.headers["location"]
    assert "X-Amz-Signature=" in location
    with urllib.request.urlopen(location, timeout=10) as fetched:
        body = fetched.read()
        disposition = fetched.headers["Content-Disposition"]
    assert hashlib.sha256(body).hexdigest() == job["source_sha256"]
    assert "clip-source" in disposition
