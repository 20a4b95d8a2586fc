"""Fair turns in one worker's pool: fetched runs wait in a bounded buffer ordered by priority
(then arrival), the consumer pauses only when that buffer is full, a split attempt gives its
slot back while it waits for its chunks, and chunks of an ended attempt stop silently."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from schemas.events import ChunkRequested, Event
from services.transcoder.attempt.model import Attempt
from services.transcoder.consume.pool import JobPool, JobRun
from tests.support.eventually import eventually

TP = TopicPartition("video.jobs", 0)
CHUNKS = TopicPartition("video.chunks", 0)


class Pipeline:
    """Each attempt runs until the test ends it; records the order in which they started."""

    process_id = "test"

    def __init__(self) -> None:
        self.started: list[str] = []
        self.endings: dict[str, asyncio.Future[None]] = {}
        self.emitted: list[Event] = []
        self.jobs: dict[str, Attempt] = {}

    def end(self, key: str) -> None:
        self.endings[key].set_result(None)

    async def execute(self, job: Attempt) -> None:
        self.started.append(job.key)
        self.jobs[job.key] = job
        future = self.endings.setdefault(job.key, asyncio.get_running_loop().create_future())
        await future

    async def emit(self, job: Attempt, event: Event) -> None:
        self.emitted.append(event)


def chunk(job_id: str, index: int, priority: int, attempt: int = 1) -> Attempt:
    task = ChunkRequested(
        job_id=job_id,
        attempt=attempt,
        index=index,
        count=99,
        start_frame=index * 10,
        frames=10,
        start_s=index * 0.4,
        frame_s=0.04,
        processing_options={},
        priority=priority,
        prefix=f"outputs/{job_id}/{attempt}/chunks/",
    )
    return Attempt(job_id, attempt, {}, None, priority=priority, chunk=task)


def make(capacity: int = 1, buffer: int = 4) -> tuple[JobPool, Pipeline, list[int]]:
    pipeline = Pipeline()
    finished: list[int] = []
    pool = JobPool(pipeline, capacity, lambda _tp, offsets: finished.extend(offsets), buffer)  # type: ignore[arg-type]
    return pool, pipeline, finished


async def test_the_buffer_starts_the_lowest_priority_first_then_arrival_order() -> None:
    pool, pipeline, _ = make(capacity=1, buffer=4)
    pool.submit(JobRun(chunk("flood", 0, priority=2), CHUNKS, [0]))
    await eventually(lambda: pipeline.started == ["flood#0"], timeout=5)
    for i in (1, 2):
        pool.submit(JobRun(chunk("flood", i, priority=2), CHUNKS, [i]))
    assert not pool.busy()  # two waiting, the buffer holds four: keep fetching
    pool.submit(JobRun(Attempt("short", 1, {}, None, priority=0), TP, [10]))
    pipeline_order = ["flood#0", "short", "flood#1", "flood#2"]
    for key in pipeline_order[:-1]:
        await eventually(lambda k=key: k in pipeline.started, timeout=5)
        pipeline.end(key)
    await eventually(lambda: len(pipeline.started) == 4, timeout=5)
    assert pipeline.started == pipeline_order
    await pool.release([TP, CHUNKS], 0)


async def test_the_consumer_pauses_only_when_the_buffer_is_full() -> None:
    pool, pipeline, _ = make(capacity=1, buffer=2)
    for i in range(3):
        pool.submit(JobRun(chunk("a", i, priority=1), CHUNKS, [i]))
    await eventually(lambda: pipeline.started == ["a#0"], timeout=5)
    assert pool.busy()  # one running, two waiting
    unbuffered, unbuffered_pipeline, _ = make(capacity=1, buffer=0)
    unbuffered.submit(JobRun(chunk("a", 0, priority=1), CHUNKS, [0]))
    await eventually(lambda: unbuffered_pipeline.started == ["a#0"], timeout=5)
    assert unbuffered.busy()  # the old rule: no free slot, pause
    await pool.release([TP, CHUNKS], 0)
    await unbuffered.release([TP, CHUNKS], 0)


async def test_a_detached_split_attempt_frees_its_slot_for_chunks() -> None:
    pool, pipeline, _ = make(capacity=1, buffer=4)
    pool.submit(JobRun(Attempt("long", 1, {}, None), TP, [0]))
    await eventually(lambda: pipeline.started == ["long"], timeout=5)
    pool.submit(JobRun(chunk("long", 0, priority=0), CHUNKS, [0]))
    assert pipeline.started == ["long"]
    detach = pipeline.jobs["long"].detach
    assert detach is not None
    detach()
    await eventually(lambda: pipeline.started == ["long", "long#0"], timeout=5)
    assert pool.has("long") and pool.running == 1  # the chunk holds the one slot
    await pool.release([TP, CHUNKS], 0)


async def test_chunks_of_an_ended_attempt_stop_without_an_event_and_finish_their_offset() -> None:
    pool, pipeline, finished = make(capacity=1, buffer=4)
    pool.submit(JobRun(chunk("j", 0, priority=0), CHUNKS, [5]))
    pool.submit(JobRun(chunk("j", 1, priority=0), CHUNKS, [6]))
    pool.submit(JobRun(chunk("j", 2, priority=0, attempt=2), CHUNKS, [7]))
    await eventually(lambda: pipeline.started == ["j#0"], timeout=5)
    pool.stop_chunks("j", below_attempt=2)  # attempt 1 ended (retry scheduled)
    await eventually(lambda: sorted(finished) == [5, 6], timeout=5)
    assert pipeline.emitted == []  # no cancelled event for a chunk
    await eventually(lambda: "j#2" in pipeline.started, timeout=5)
    assert pool.adopt("j#2", CHUNKS, [8])  # the same chunk delivered twice: one run
    pipeline.end("j#2")
    await eventually(lambda: sorted(finished) == [5, 6, 7, 8], timeout=5)
