"""``vidpipe up``'s data is private to its user (issue 26, item 15): the data dir ``0700``, the
local store's directories ``0700`` and objects ``0600``, whatever the umask says."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.cli.datadir import DataDirLock
from services.core.storage.local import LocalObjectStore
from services.core.storage.local_partial import LocalPartialUploads
from services.core.storage.partial import PartialState


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default, which gave 0755 / 0644 before
    try:
        yield
    finally:
        os.umask(old)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_objects_are_0600_in_0700_directories(tmp_path: Path) -> None:
    root = tmp_path / "data" / "storage"
    store = LocalObjectStore(root)
    await store.put_stream("sources/job-1/source", _chunks(b"video"))
    source = tmp_path / "thumb.jpg"
    source.write_bytes(b"jpeg")
    await store.put_file("outputs/job-1/1/thumbnail.jpg", source)
    files = sorted(p for p in (tmp_path / "data").rglob("*") if p.is_file())
    dirs = sorted(p for p in (tmp_path / "data").rglob("*") if p.is_dir())
    assert [p.name for p in files] == ["thumbnail.jpg", "source"]
    assert {p.name: oct(mode(p)) for p in files} == {"thumbnail.jpg": "0o600", "source": "0o600"}
    assert {oct(mode(p)) for p in [tmp_path / "data", *dirs]} == {"0o700"}


async def test_tus_uploads_are_0600_while_partial_and_once_complete(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    uploads = LocalPartialUploads(root)
    key = "sources/job-2/source"
    state = await uploads.append(key, PartialState(), _chunks(b"abc"), max_bytes=10)
    (partial,) = [p for p in root.rglob("*") if p.is_file()]
    assert oct(mode(partial)) == "0o600"
    await uploads.complete(key, state)
    assert oct(mode(root / key)) == "0o600"
    assert {oct(mode(p)) for p in [root, *root.rglob("*")] if p.is_dir()} == {"0o700"}


def test_the_data_dir_is_0700_new_or_from_an_earlier_up(tmp_path: Path) -> None:
    fresh = tmp_path / "new" / "vidpipe"
    lock = DataDirLock(fresh)
    lock.acquire()
    lock.release()
    assert oct(mode(fresh)) == "0o700" and oct(mode(fresh / "up.lock")) == "0o600"

    earlier = tmp_path / "earlier"  # what an older `up` left: 0755, with its lock file
    earlier.mkdir(mode=0o755)
    (earlier / "up.lock").write_text("1\n")
    lock = DataDirLock(earlier)
    lock.acquire()
    lock.release()
    assert oct(mode(earlier)) == "0o700"

    shared = tmp_path / "shared"  # a directory that is not vidpipe's alone keeps its mode
    shared.mkdir(mode=0o755)
    (shared / "someone-elses").write_text("")
    lock = DataDirLock(shared)
    lock.acquire()
    lock.release()
    assert oct(mode(shared)) == "0o755"
