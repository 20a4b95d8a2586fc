"""One attempt of the pipeline, fast: the real ffmpeg on a one-second clip, local storage in a
temporary directory, and the in-memory publisher and fixed clock instead of Kafka and time."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from schemas.events import JobCompleted, JobFailed, RetryScheduled, StageCompleted
from services.core.runtime.settings import resolve_ffmpeg
from services.core.storage import ObjectStore, StorageError, open_store
from services.core.storage.keys import source_key
from services.transcoder.attempt.model import Attempt, RetryPolicy
from services.transcoder.attempt.pipeline import Pipeline
from tests.support.fakes import FixedClock, InMemoryPublisher
from tests.support.media import make_video


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return open_store((tmp_path / "storage").as_uri())


class FailingUploads:
    """The store, except that every upload fails as an unreachable bucket would."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        raise StorageError(f"{key}: the bucket is unreachable")


def pipeline(
    store: ObjectStore | FailingUploads, publisher: InMemoryPublisher, clock: FixedClock
) -> Pipeline:
    return Pipeline(
        store,
        publisher,
        resolve_ffmpeg(None),
        RetryPolicy(max_attempts=3, base_delay_s=5.0),
        stall_timeout_s=60,
        process_id="test:1",
        clock=clock,
    )


def attempt(options: dict[str, object], number: int = 1) -> Attempt:
    return Attempt(str(uuid.uuid4()), number, options, correlation_id="c-1", worker_id="test:1/0")


async def stored_source(store: ObjectStore, tmp_path: Path, job: Attempt, *, ok: bool) -> None:
    path = tmp_path / "source.mp4"
    if ok:
        make_video(path, seconds=1.0, size="96x64", fps=10)
    else:
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 50)
    await store.put_file(source_key(job.job_id), path)


async def test_an_attempt_publishes_its_life_and_stores_its_outputs(
    store: ObjectStore, tmp_path: Path
) -> None:
    publisher, clock = InMemoryPublisher(), FixedClock()
    job = attempt({"preset": "h264-480p"})
    await stored_source(store, tmp_path, job, ok=True)

    assert await pipeline(store, publisher, clock).execute(job) == "completed"

    types = [t for t in publisher.types() if t != "video.job.progress"]
    assert types[0] == "video.job.started" and types[-1] == "video.job.completed"
    stages = [e.operation for e in publisher.events if isinstance(e, StageCompleted)]
    assert stages[:2] == ["intake", "validate"] and stages[-1] == "cleanup"
    assert {"metadata", "transcode", "store"} <= set(stages)
    [completed] = [e for e in publisher.events if isinstance(e, JobCompleted)]
    assert completed.attempt == 1
    names = {o.name for o in completed.outputs}
    assert {"video.mp4", "thumbnail.jpg"} <= names
    for output in completed.outputs:  # every listed output is stored under this attempt
        assert output.key == f"outputs/{job.job_id}/1/{output.name}"
        stored = await store.stat(output.key)
        assert stored is not None and stored.size_bytes > 0
    assert all(e.correlation_id == "c-1" for e in publisher.envelopes)


async def test_a_source_that_is_not_a_video_fails_for_good(
    store: ObjectStore, tmp_path: Path
) -> None:
    publisher, clock = InMemoryPublisher(), FixedClock()
    job = attempt({"preset": "h264-480p"})
    await stored_source(store, tmp_path, job, ok=False)

    assert await pipeline(store, publisher, clock).execute(job) == "failed"

    failed = publisher.events[-1]
    assert isinstance(failed, JobFailed) and not failed.retryable
    assert not any(t == "video.job.retry_scheduled" for t in publisher.types())


async def test_a_retryable_failure_schedules_the_next_attempt_by_the_clock(
    store: ObjectStore, tmp_path: Path
) -> None:
    publisher, clock = InMemoryPublisher(), FixedClock()
    job = attempt({"preset": "h264-480p"}, number=2)
    await stored_source(store, tmp_path, job, ok=True)

    assert await pipeline(FailingUploads(store), publisher, clock).execute(job) == "retried"

    retry = publisher.events[-1]
    assert isinstance(retry, RetryScheduled) and retry.attempt == 3
    assert retry.not_before == clock.now + timedelta(seconds=10)  # 5 s, doubled after attempt 2
