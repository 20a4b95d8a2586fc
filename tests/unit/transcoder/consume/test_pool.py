"""The pool's gate on commits: a record's offset may be committed only once the outcome of the
job it caused is published, never for an attempt that failed to publish, was abandoned or
handed over. Fast (no broker, no ffmpeg): the slow hand-over tests check the same end to end.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiokafka import TopicPartition

from schemas.events import Event, JobCancelled
from services.transcoder.attempt.model import Attempt
from services.transcoder.consume.offsets import PartitionOffsets
from services.transcoder.consume.pool import JobPool, JobRun
from tests.support.eventually import eventually

TP = TopicPartition("video.jobs", 0)


class ScriptedPipeline:
    """Stands in for ``Pipeline`` (execute, emit): each attempt ends when and as the test says.

    ``execute`` returns once the outcome is published, raises when publishing it failed, and
    re-raises ``CancelledError`` when abandoned, as the real one does.
    """

    process_id = "test-process"

    def __init__(self) -> None:
        self.endings: dict[str, asyncio.Future[None]] = {}
        self.emitted: list[Event] = []
        self.emit_error: Exception | None = None

    def ending(self, job_id: str) -> asyncio.Future[None]:
        return self.endings.setdefault(job_id, asyncio.get_running_loop().create_future())

    async def execute(self, job: Attempt) -> None:
        await self.ending(job.job_id)

    async def emit(self, job: Attempt, event: Event) -> None:
        if self.emit_error is not None:
            raise self.emit_error
        self.emitted.append(event)


class Worker:
    """A pool wired to an offset tracker as the transcoder's consumer wires them."""

    def __init__(self, capacity: int = 2) -> None:
        self.pipeline = ScriptedPipeline()
        self.offsets = PartitionOffsets()
        self.pool = JobPool(self.pipeline, capacity, self._finished)  # type: ignore[arg-type]

    def _finished(self, tp: TopicPartition, offsets: list[int]) -> None:
        assert tp == TP
        self.offsets.finish(*offsets)

    def submit(self, job_id: str, offset: int, not_before: datetime | None = None) -> None:
        self.offsets.read(offset)
        attempt = Attempt(job_id, 1, {}, None)
        self.pool.submit(JobRun(attempt, TP, [offset], not_before=not_before))

    async def running(self, job_id: str) -> None:
        await eventually(
            lambda: job_id in self.pipeline.endings, timeout=5, message=f"{job_id} to start"
        )

    async def gone(self, job_id: str) -> None:
        await eventually(
            lambda: not self.pool.has(job_id), timeout=5, message=f"{job_id} to leave the pool"
        )


async def test_offset_committable_only_after_the_outcome_is_published() -> None:
    worker = Worker()
    worker.submit("a", 5)
    worker.submit("b", 6)
    await worker.running("a")
    await worker.running("b")
    assert worker.offsets.committable() == 5
    worker.pipeline.ending("b").set_result(None)
    await worker.gone("b")
    assert worker.offsets.committable() == 5, "a's record is still unfinished"
    worker.pipeline.ending("a").set_result(None)
    await worker.gone("a")
    assert worker.offsets.committable() == 7


async def test_no_commit_when_the_outcome_could_not_be_published() -> None:
    worker = Worker()
    worker.submit("a", 5)
    await worker.running("a")
    worker.pipeline.ending("a").set_exception(ConnectionError("broker unreachable"))
    await worker.gone("a")
    assert worker.offsets.committable() == 5


async def test_no_commit_for_an_abandoned_attempt() -> None:
    worker = Worker()
    worker.submit("a", 5)
    worker.submit("b", 6)
    await worker.running("a")
    await worker.running("b")
    assert worker.pool.stop("a", "abandon")
    await worker.gone("a")
    await worker.pool.release([TP], grace_s=0.01)  # b outlives the grace: abandoned too
    assert not worker.pool.has("b")
    assert worker.offsets.committable() == 5


async def test_jobs_waiting_for_their_retry_time_commit_only_when_deleted() -> None:
    worker = Worker()
    later = datetime.now(UTC) + timedelta(minutes=5)
    worker.submit("done", 5)
    for n, job_id in enumerate(("stalled", "deleted", "handed-over")):
        worker.submit(job_id, 6 + n, not_before=later)
    worker.pipeline.ending("done").set_result(None)
    await worker.gone("done")
    assert worker.pool.stop("stalled", "stalled")  # never ran: not finished either
    assert worker.pool.stop("deleted", "deleted")  # a deleted job needs nothing more
    await worker.pool.release([TP], grace_s=0.01)
    assert not any(worker.pool.has(j) for j in ("stalled", "deleted", "handed-over"))
    assert worker.offsets.committable() == 6
    assert worker.offsets.open_count == 2  # the stalled and the handed-over records


async def test_a_queued_cancel_commits_only_once_cancelled_is_published() -> None:
    worker = Worker(capacity=1)
    worker.submit("running", 5)
    await worker.running("running")
    worker.submit("queued", 6)
    worker.submit("queued-too", 7)
    worker.pipeline.emit_error = ConnectionError("broker unreachable")
    assert worker.pool.stop("queued", "cancel")
    await worker.gone("queued")
    worker.pipeline.emit_error = None
    assert worker.pool.stop("queued-too", "cancel")
    await worker.gone("queued-too")
    assert [type(e) for e in worker.pipeline.emitted] == [JobCancelled]
    worker.pipeline.ending("running").set_result(None)
    await worker.gone("running")
    assert worker.offsets.committable() == 6, "the unpublished cancel's record is redone"
    assert worker.offsets.open_count == 1
