"""One contract suite for PartialUploads (resumable uploads), local directory and S3 (moto)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.core.storage import (
    ObjectStore,
    ObjectTooLarge,
    PartialState,
    PartialUploads,
    open_partial_uploads,
)
from services.core.storage.local import LocalObjectStore
from services.core.storage.local_partial import LocalPartialUploads
from services.core.storage.s3 import S3ObjectStore
from services.core.storage.s3_partial import S3PartialUploads
from tests.support.storage import BUCKET, MIB, chunked, local_leftovers, read, s3_leftovers

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

KEY = "sources/job/source"


@dataclass
class Backend:
    uploads: PartialUploads
    store: ObjectStore
    reopen: Callable[[], PartialUploads]  # a new instance on the same storage: a restart
    raw_prefix: str
    leftovers: Callable[[], list[str]]


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        root = tmp_path / "objects"
        yield Backend(
            LocalPartialUploads(root),
            LocalObjectStore(root),
            lambda: LocalPartialUploads(root),
            "",
            lambda: local_leftovers(root),
        )
        return
    client: S3Client = request.getfixturevalue("s3_client")
    prefix = f"partial-{uuid.uuid4().hex}"
    yield Backend(
        S3PartialUploads(BUCKET, prefix, client=client),
        S3ObjectStore(BUCKET, prefix, client=client),
        lambda: S3PartialUploads(BUCKET, prefix, client=client),
        f"{prefix}/",
        lambda: s3_leftovers(client, prefix),
    )


def restarted(state: PartialState) -> PartialState:
    """The state as the caller stores it (JSON in PostgreSQL) and reads it back."""
    return PartialState(state.offset, json.loads(json.dumps(state.backend)))


async def failing(data: bytes) -> AsyncIterator[bytes]:
    yield data
    raise ConnectionResetError("client went away")


async def test_appends_across_restarts_complete_into_one_object(backend: Backend) -> None:
    sizes = [3 * MIB, 7 * MIB + 5, 1, 0, 9 * MIB, 100]  # tails, parts, empty chunks
    data = os.urandom(sum(sizes))
    state, start = PartialState(), 0
    for size in sizes:
        uploads = backend.reopen()
        state = await uploads.append(
            KEY, state, chunked(data[start : start + size]), max_bytes=size
        )
        await uploads.prune(KEY, state)
        state, start = restarted(state), start + size
        assert state.offset == start
    stored = await backend.reopen().complete(KEY, state)
    assert (stored.key, stored.size_bytes) == (KEY, len(data))
    assert await read(backend.store, KEY) == data
    assert backend.leftovers() == [f"{backend.raw_prefix}{KEY}"]
    again = await backend.reopen().complete(KEY, state)  # a retried completion
    assert again.size_bytes == len(data) and await read(backend.store, KEY) == data


@pytest.mark.parametrize("first", [100, 6 * MIB], ids=["tail", "part"])
async def test_a_result_not_adopted_changes_nothing(backend: Backend, first: int) -> None:
    one, refused, two = os.urandom(first), os.urandom(9 * MIB), os.urandom(2 * MIB)
    adopted = await backend.uploads.append(KEY, PartialState(), chunked(one), max_bytes=10**9)
    await backend.uploads.append(KEY, adopted, chunked(refused), max_bytes=10**9)
    with pytest.raises(ObjectTooLarge):
        await backend.uploads.append(KEY, adopted, chunked(refused), max_bytes=MIB)
    with pytest.raises(ConnectionResetError):
        await backend.uploads.append(KEY, adopted, failing(refused), max_bytes=10**9)
    final = await backend.uploads.append(KEY, adopted, chunked(two), max_bytes=10**9)
    await backend.uploads.complete(KEY, final)
    assert await read(backend.store, KEY) == one + two
    assert backend.leftovers() == [f"{backend.raw_prefix}{KEY}"]


async def test_an_empty_upload_completes(backend: Backend) -> None:
    state = await backend.uploads.append(KEY, PartialState(), chunked(b""), max_bytes=0)
    stored = await backend.uploads.complete(KEY, state)
    assert stored.size_bytes == 0 and await read(backend.store, KEY) == b""


@pytest.mark.parametrize("size", [10, 9 * MIB])
async def test_abort_removes_everything(backend: Backend, size: int) -> None:
    state = await backend.uploads.append(
        KEY, PartialState(), chunked(os.urandom(size)), max_bytes=size
    )
    assert not await backend.store.exists(KEY)  # the object appears only on completion
    await backend.reopen().abort(KEY, restarted(state))
    assert backend.leftovers() == []
    await backend.uploads.abort(KEY, state)  # twice is fine


def test_open_partial_uploads_builds_both_kinds(tmp_path: Path, s3_endpoint: str) -> None:
    assert isinstance(open_partial_uploads(tmp_path.as_uri()), LocalPartialUploads)
    s3 = open_partial_uploads(f"s3://{BUCKET}/p", s3_endpoint_url=s3_endpoint)
    assert isinstance(s3, S3PartialUploads)
    s3.close()
    with pytest.raises(ValueError, match="STORAGE_URL"):
        open_partial_uploads("http://example.com/")
