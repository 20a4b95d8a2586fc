"""The coordinating side of a split attempt without a broker: the window of chunks in flight,
retries of a chunk that failed retryably, the attempt failing retryably after the last try,
the fall-back to a single pass, and outcomes of other tries or duplicates ignored."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from schemas.events import ChunkRequested, StageCompleted
from services.transcoder.attempt.model import Attempt, JobError
from services.transcoder.attempt.progress import ProgressReporter
from services.transcoder.attempt.split_run import _chunks
from services.transcoder.attempt.stagehost import StageContext
from services.transcoder.split.board import ChunkBoard
from services.transcoder.split.planning import Chunk, SinglePass, SplitPlan, SplitSettings


class Host:
    """Records the chunk tasks an attempt publishes; nothing else is used by ``_chunks``."""

    def __init__(self, in_flight: int, tries: int) -> None:
        self.split_settings = SplitSettings(chunks_in_flight=in_flight, chunk_tries=tries)
        self.chunk_board = ChunkBoard()
        self.requested: list[tuple[int, int]] = []
        self.published = asyncio.Event()

    async def request_chunks(self, job: Attempt, requests: list[ChunkRequested]) -> None:
        self.requested += [(r.index, r.try_number) for r in requests]
        self.published.set()


async def _no_ticks(_event: Any) -> None:
    pass


def setup(in_flight: int = 2, tries: int = 2) -> tuple[Host, StageContext, SplitPlan]:
    host = Host(in_flight, tries)
    job = Attempt("j", 1, {}, None)
    job.progress = ProgressReporter("j", 1, _no_ticks)
    ctx = StageContext("j", 1, {}, Path("/nonexistent"), host, job)  # type: ignore[arg-type]
    chunks = tuple(Chunk(i, i * 10, 10, i * 0.4) for i in range(3))
    return host, ctx, SplitPlan(chunks, 0.04, 30)


def outcome(
    index: int, status: str = "ok", meta: dict[str, Any] | None = None, attempt: int = 1
) -> StageCompleted:
    return StageCompleted(
        job_id="j",
        worker_id=f"w{index}",
        attempt=attempt,
        operation="chunk",
        status=status,
        duration_ms=1,
        metadata={"index": index, "keys": {"video.mp4": f"k{index}"}, **(meta or {})},
    )


async def settle(host: Host) -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_window_of_chunks_a_retry_and_duplicates_ignored() -> None:
    host, ctx, plan = setup(in_flight=2, tries=2)
    inbox = host.chunk_board.open("j", 1)
    task = asyncio.create_task(_chunks(ctx, plan, inbox))
    await settle(host)
    assert host.requested == [(0, 1), (1, 1)]  # the window: two in flight
    inbox.put_nowait(outcome(1, "failed", {"try": 0, "retryable": True, "message": "old"}))
    await settle(host)
    assert host.requested == [(0, 1), (1, 1)]  # another try's failure: ignored
    inbox.put_nowait(outcome(1, "failed", {"try": 1, "retryable": True, "message": "x"}))
    await settle(host)
    assert host.requested == [(0, 1), (1, 1), (1, 2)]  # redone, still two in flight
    inbox.put_nowait(outcome(0))
    inbox.put_nowait(outcome(0))  # delivered twice
    await settle(host)
    assert host.requested[-1] == (2, 1)
    inbox.put_nowait(outcome(1))
    inbox.put_nowait(outcome(2))
    meta, done = await asyncio.wait_for(task, 5)
    assert isinstance(done, dict) and sorted(done) == [0, 1, 2]
    assert meta["chunks"] == 3 and meta["retried"] == [1]


async def test_the_last_try_failing_fails_the_attempt_retryably() -> None:
    host, ctx, plan = setup(in_flight=3, tries=2)
    inbox = host.chunk_board.open("j", 1)
    task = asyncio.create_task(_chunks(ctx, plan, inbox))
    for try_number in (1, 2):
        await settle(host)
        failed: dict[str, Any] = {"try": try_number, "retryable": True, "message": "stalled"}
        inbox.put_nowait(outcome(2, "failed", failed))
    with pytest.raises(JobError) as error:
        await asyncio.wait_for(task, 5)
    assert error.value.code == "chunk_failed" and error.value.retryable


async def test_a_chunk_that_cannot_be_encoded_falls_back_to_a_single_pass() -> None:
    host, ctx, plan = setup()
    inbox = host.chunk_board.open("j", 1)
    task = asyncio.create_task(_chunks(ctx, plan, inbox))
    await settle(host)
    inbox.put_nowait(outcome(0, "failed", {"try": 1, "retryable": False, "message": "frames"}))
    meta, done = await asyncio.wait_for(task, 5)
    assert isinstance(done, SinglePass) and meta["fallback"] == "chunk_failed"


def test_the_board_delivers_only_to_the_attempt_that_waits() -> None:
    board = ChunkBoard()
    inbox = board.open("j", 2)
    board.deliver(outcome(0, attempt=1))  # a stale attempt's chunk
    board.deliver(outcome(0, attempt=2))
    assert inbox.qsize() == 1 and board.wants("j") and not board.wants("k")
    board.close("j", 2)
    assert not board.wants("j")
