"""One contract suite for ObjectStore, run against the local directory store and S3.

S3 is moto in server mode: a real HTTP endpoint that boto3 and urllib talk to, no patching.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from services.core.storage import (
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StorageError,
    open_store,
)
from services.core.storage.local import LocalObjectStore
from services.core.storage.s3 import S3ObjectStore
from tests.support.storage import (
    BUCKET,
    MIB,
    chunked,
    local_leftovers,
    payload,
    read,
    s3_leftovers,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


@dataclass
class Backend:
    store: ObjectStore
    raw_prefix: str  # what the backend puts before every key
    leftovers: Callable[[], list[str]]  # everything physically present, incl. partial uploads


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        root = tmp_path / "objects"
        store: ObjectStore = LocalObjectStore(root)
        yield Backend(store, "", lambda: local_leftovers(root))
    else:
        client = request.getfixturevalue("s3_client")
        prefix = f"contract-{uuid.uuid4().hex}"
        store = S3ObjectStore(BUCKET, prefix, client=client)
        yield Backend(store, f"{prefix}/", lambda: s3_leftovers(client, prefix))
    store.close()


@pytest.fixture
def store(backend: Backend) -> ObjectStore:
    return backend.store


async def test_put_stream_round_trip(store: ObjectStore) -> None:
    data = payload(200_000)
    stored = await store.put_stream("sources/j1/source", chunked(data), content_type="video/mp4")
    assert (stored.key, stored.size_bytes) == ("sources/j1/source", len(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.content_type == "video/mp4"
    assert await read(store, "sources/j1/source") == data


async def test_large_multi_chunk_stream_round_trip(backend: Backend, tmp_path: Path) -> None:
    data = os.urandom(12 * MIB)  # crosses the S3 part size: create, upload parts, complete
    stored = await backend.store.put_stream("sources/big/source", chunked(data))
    assert stored.size_bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await read(backend.store, "sources/big/source") == data
    await backend.store.get_to_file("sources/big/source", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == data
    assert backend.leftovers() == [f"{backend.raw_prefix}sources/big/source"]


@pytest.mark.parametrize("size", [1000, 12 * MIB], ids=["single-put", "multipart"])
async def test_max_bytes_exceeded_leaves_nothing(backend: Backend, size: int) -> None:
    store = backend.store
    with pytest.raises(ObjectTooLarge):
        await store.put_stream("sources/j2/source", chunked(payload(size)), max_bytes=size - 1)
    assert not await store.exists("sources/j2/source")
    assert await store.list("sources/j2/") == []
    assert backend.leftovers() == []


async def test_failed_stream_leaves_nothing_and_keeps_previous(backend: Backend) -> None:
    store = backend.store
    await store.put_stream("outputs/j3/video.mp4", chunked(b"old"))
    with pytest.raises(ConnectionResetError):
        await store.put_stream(
            "outputs/j3/video.mp4", chunked(payload(10 * MIB), fail_after=9 * MIB)
        )
    assert await read(store, "outputs/j3/video.mp4") == b"old"
    assert backend.leftovers() == [f"{backend.raw_prefix}outputs/j3/video.mp4"]


async def test_cancelled_upload_leaves_nothing(backend: Backend) -> None:
    stalled = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        async for chunk in chunked(payload(9 * MIB)):  # past the first S3 part
            yield chunk
        stalled.set()
        await asyncio.Event().wait()
        yield b""  # pragma: no cover

    task = asyncio.create_task(backend.store.put_stream("sources/j4/source", stalling()))
    await stalled.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.leftovers() == []


async def test_max_bytes_at_limit_is_accepted(store: ObjectStore) -> None:
    stored = await store.put_stream("a/exact", chunked(b"x" * 100, size=7), max_bytes=100)
    assert stored.size_bytes == 100


async def test_overwrite_replaces(store: ObjectStore) -> None:
    await store.put_stream("outputs/j/x.bin", chunked(b"first version"))
    await store.put_stream("outputs/j/x.bin", chunked(b"second"))
    assert await read(store, "outputs/j/x.bin") == b"second"


async def test_concurrent_writes_to_one_key(backend: Backend) -> None:
    one, two = payload(300_000), payload(400_000)
    await asyncio.gather(
        backend.store.put_stream("outputs/j/race", chunked(one)),
        backend.store.put_stream("outputs/j/race", chunked(two)),
    )
    assert await read(backend.store, "outputs/j/race") in (one, two)
    assert backend.leftovers() == [f"{backend.raw_prefix}outputs/j/race"]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, None, slice(None)),
        (100, None, slice(100, None)),
        (100, 200, slice(100, 200)),
        (0, 1, slice(0, 1)),
        (9_000, 50_000, slice(9_000, None)),
        (10_000, None, slice(0, 0)),
        (12_345, None, slice(0, 0)),
        (5, 5, slice(0, 0)),
    ],
)
async def test_ranges(store: ObjectStore, start: int, end: int | None, expected: slice) -> None:
    data = payload(10_000)
    await store.put_stream("outputs/j/ranged", chunked(data, size=333))
    assert await read(store, "outputs/j/ranged", start, end) == data[expected]


async def test_ranges_of_empty_object(store: ObjectStore) -> None:
    stored = await store.put_stream("outputs/j/empty", chunked(b""))
    assert stored.size_bytes == 0
    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert await read(store, "outputs/j/empty") == b""
    assert await read(store, "outputs/j/empty", 0, 10) == b""


@pytest.mark.parametrize(("start", "end"), [(-1, None), (10, 5)])
async def test_invalid_range(store: ObjectStore, start: int, end: int | None) -> None:
    await store.put_stream("outputs/j/r", chunked(b"abc"))
    with pytest.raises(ValueError):
        await read(store, "outputs/j/r", start, end)


async def test_stat_exists_delete(store: ObjectStore) -> None:
    stored = await store.put_stream(
        "outputs/j/video.mp4", chunked(b"x" * 42), content_type="video/mp4"
    )
    stat = await store.stat("outputs/j/video.mp4")
    assert stat is not None
    assert (stat.key, stat.size_bytes, stat.content_type) == (
        "outputs/j/video.mp4",
        42,
        "video/mp4",
    )
    # its age, which the orphan sweep reads (S3 keeps whole seconds)
    assert stat.modified_at is not None and abs(stat.modified_at - time.time()) < 60
    assert stored.content_type == "video/mp4"
    assert await store.exists("outputs/j/video.mp4")
    await store.delete("outputs/j/video.mp4")
    assert not await store.exists("outputs/j/video.mp4")
    assert await store.stat("outputs/j/video.mp4") is None
    await store.delete("outputs/j/video.mp4")  # deleting twice is fine


async def test_list_and_delete_prefix(backend: Backend) -> None:
    store = backend.store
    for key in ["a/2", "a/1", "a/sub/3", "ab/4", "b/5"]:
        await store.put_stream(key, chunked(key.encode()))
    assert await store.list("a/") == ["a/1", "a/2", "a/sub/3"]
    assert await store.list("a") == ["a/1", "a/2", "a/sub/3", "ab/4"]  # string prefix, as S3
    assert await store.list("a/s") == ["a/sub/3"]
    assert await store.list("") == ["a/1", "a/2", "a/sub/3", "ab/4", "b/5"]
    assert await store.list("zzz/") == []
    assert await store.delete_prefix("a/") == 3
    assert await store.list("") == ["ab/4", "b/5"]
    assert await store.delete_prefix("a/") == 0
    with pytest.raises(ValueError):
        await store.delete_prefix("")


async def test_missing_key(store: ObjectStore, tmp_path: Path) -> None:
    assert await store.stat("sources/nope/source") is None
    assert not await store.exists("sources/nope/source")
    with pytest.raises(ObjectNotFound):
        await read(store, "sources/nope/source")
    with pytest.raises(ObjectNotFound):
        await read(store, "sources/nope/source", 3, 3)
    with pytest.raises(ObjectNotFound):
        await store.get_to_file("sources/nope/source", tmp_path / "out")


async def test_key_that_is_a_directory_is_missing(store: ObjectStore) -> None:
    await store.put_stream("outputs/j/file", chunked(b"x"))
    assert await store.stat("outputs/j") is None
    with pytest.raises(ObjectNotFound):
        await read(store, "outputs/j")


BAD_KEYS = ["", "/abs", "a/../b", "..", "./a", "a//b", "a/", "a\\b", "a\x00b", "a\nb", ".partial-x"]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_key_validation(store: ObjectStore, key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await store.put_stream(key, chunked(b"x"))
    with pytest.raises(ValueError):
        await store.stat(key)
    with pytest.raises(ValueError):
        await store.delete(key)
    with pytest.raises(ValueError):
        await read(store, key)
    with pytest.raises(ValueError):
        await store.put_file(key, tmp_path / "whatever")
    with pytest.raises(ValueError):
        store.local_path(key)
    with pytest.raises(ValueError):
        await store.presigned_url(key)
    if key:
        with pytest.raises(ValueError):
            await store.list(key + "/")


async def test_put_file_and_get_to_file(store: ObjectStore, tmp_path: Path) -> None:
    data = payload(3 * MIB + 17)
    (tmp_path / "scratch.mp4").write_bytes(data)
    stored = await store.put_file("outputs/j/720p.mp4", tmp_path / "scratch.mp4")
    assert stored.size_bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.content_type == "video/mp4"
    stat = await store.stat("outputs/j/720p.mp4")
    assert stat is not None and stat.size_bytes == len(data)
    await store.get_to_file("outputs/j/720p.mp4", tmp_path / "back.mp4")
    assert (tmp_path / "back.mp4").read_bytes() == data


async def test_put_file_missing_source(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        await store.put_file("outputs/j/x", tmp_path / "absent")
    assert not await store.exists("outputs/j/x")


async def test_local_path_or_presigned_url(store: ObjectStore) -> None:
    data = payload(5000)
    await store.put_stream("outputs/j/video.mp4", chunked(data), content_type="video/mp4")
    path = store.local_path("outputs/j/video.mp4")
    url = await store.presigned_url("outputs/j/video.mp4", expires_s=60, filename="clip ü.mp4")
    if isinstance(store, LocalObjectStore):
        assert path is not None and path.read_bytes() == data
        assert url is None
        return
    assert path is None and url is not None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        assert response.read() == data
        disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="clip _.mp4"' in disposition
    assert f"filename*=UTF-8''{quote('clip ü.mp4')}" in disposition


def test_local_store_never_escapes_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    store = LocalObjectStore(root)
    with pytest.raises(ValueError):
        store.local_path("link/secret")
    assert store.local_path("fine/key") == root / "fine" / "key"


@pytest.mark.parametrize(
    "url", ["", "http://example.com/x", "file://relative/path", "file:relative", "s3://", "s3:///x"]
)
def test_open_store_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="STORAGE_URL"):
        open_store(url)


def test_open_store_builds_both_kinds(tmp_path: Path, s3_endpoint: str) -> None:
    local = open_store((tmp_path / "with space").as_uri())
    assert local.local_path("k") == tmp_path / "with space" / "k"
    s3 = open_store(f"s3://{BUCKET}/some/prefix/", s3_endpoint_url=s3_endpoint)
    try:
        assert isinstance(s3, S3ObjectStore)
        assert s3.local_path("k") is None
    finally:
        s3.close()


async def test_open_store_s3_round_trip(s3_endpoint: str, s3_client: S3Client) -> None:
    store = open_store(f"s3://{BUCKET}/via-url", s3_endpoint_url=s3_endpoint)
    try:
        await store.put_stream("k/v", chunked(b"hello"))
        assert await store.list("k/") == ["k/v"]
        assert s3_client.get_object(Bucket=BUCKET, Key="via-url/k/v")["Body"].read() == b"hello"
        assert await store.delete_prefix("k/") == 1
    finally:
        store.close()
