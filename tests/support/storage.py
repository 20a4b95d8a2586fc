"""Helpers of the storage contract suites (objects and partial uploads), local and S3, and the
``s3_client`` fixture on the session's moto endpoint with the suites' bucket."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.core.storage import ObjectStore
from services.core.storage.s3 import make_s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

BUCKET = "vidpipe-contract"
CHUNK = 64 * 1024
MIB = 1024 * 1024


def local_leftovers(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def s3_leftovers(client: S3Client, prefix: str) -> list[str]:
    objects = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
    return sorted([o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads])


async def chunked(
    data: bytes, size: int = CHUNK, fail_after: int | None = None
) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        if fail_after is not None and offset >= fail_after:
            raise ConnectionResetError("client went away")
        yield data[offset : offset + size]


async def read(store: ObjectStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.open_range(key, start, end)])


def payload(size: int) -> bytes:
    return (hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1))[:size]


@pytest.fixture(scope="module")
def s3_client(s3_endpoint: str) -> Iterator[S3Client]:
    # One client for the module: building one costs ~0.2 s, too much per test.
    client = make_s3_client(s3_endpoint, "us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    client.close()
