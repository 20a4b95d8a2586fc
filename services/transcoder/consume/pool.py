"""The bounded pool of job slots: queue, retry timers, cancel, watchdog, hand-over.

A job the consumer decided to run becomes a :class:`JobRun` holding the offsets of the records
that caused it. Those offsets are reported finished (``on_finished``) only when the attempt
ended with its outcome published; an abandoned run (revoke, shutdown, crash) reports nothing,
so its records are read again by whoever owns the partition next.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import TopicPartition

from schemas.events import JobCancelled
from services.transcoder.attempt.model import Attempt, StopReason
from services.transcoder.attempt.pipeline import Pipeline
from services.transcoder.metrics import IN_FLIGHT, QUEUED

log = logging.getLogger(__name__)

OnFinished = Callable[[TopicPartition, list[int]], None]


@dataclass
class JobRun:
    """A job this process queued or runs, and the records it answers for."""

    job: Attempt
    partition: TopicPartition
    offsets: list[int]
    not_before: datetime | None = None
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    slot: int | None = None
    ready: bool = field(default=False)
    begun: bool = False  # the task has started running (a task cancelled before never does)


class JobPool:
    """Runs at most ``capacity`` attempts (or chunks) at once; the ones ready to start wait in
    a buffer ordered by priority (lower first), then by arrival.

    ``buffer``: how many fetched runs may wait beyond the free slots before the consumer
    pauses its partitions. Not pausing at once is what lets another user's job be fetched,
    and so start first, while a flood of chunks keeps every slot busy.
    """

    def __init__(
        self, pipeline: Pipeline, capacity: int, on_finished: OnFinished, buffer: int = 0
    ) -> None:
        self._pipeline = pipeline
        self._on_finished = on_finished
        self._buffer = buffer
        self._free_slots = list(range(capacity - 1, -1, -1))
        self._runs: dict[str, JobRun] = {}
        self._ready: list[tuple[int, int, str]] = []  # heap of (priority, arrival, key)
        self._arrivals = itertools.count()
        self._idle = asyncio.Event()
        self._idle.set()

    def has(self, job_id: str) -> bool:
        """Whether the job is queued, waiting for its retry time, or running here."""
        return job_id in self._runs

    def adopt(self, key: str, partition: TopicPartition, offsets: list[int]) -> bool:
        """A record for a run already here (a chunk delivered twice): it answers for it too."""
        run = self._runs.get(key)
        if run is None or run.partition != partition:
            return False
        run.offsets.extend(offsets)
        return True

    @property
    def running(self) -> int:
        return sum(1 for run in self._runs.values() if run.slot is not None)

    def busy(self) -> bool:
        """The buffer is full (no slot free for one more, plus ``buffer`` waiting): pause."""
        return len(self._ready) >= len(self._free_slots) + self._buffer

    def submit(self, run: JobRun) -> None:
        """Queue a run; it starts when a slot is free and its ``not_before`` has passed."""
        self._runs[run.job.key] = run
        self._idle.clear()
        delay = 0.0
        if run.not_before is not None:
            delay = (run.not_before - datetime.now(UTC)).total_seconds()
        if delay > 0:
            run.timer = asyncio.get_running_loop().call_later(delay, self._make_ready, run)
        else:
            self._make_ready(run)
        self._gauges()

    def _make_ready(self, run: JobRun) -> None:
        run.timer = None
        if self._runs.get(run.job.key) is run and not run.ready:
            run.ready = True
            heapq.heappush(self._ready, (run.job.priority, next(self._arrivals), run.job.key))
            self._pump()

    def _pump(self) -> None:
        while self._free_slots and self._ready:
            run = self._runs.get(heapq.heappop(self._ready)[2])
            if run is None or run.task is not None:
                continue
            run.slot = self._free_slots.pop()
            run.job.worker_id = f"{self._pipeline.process_id}/{run.slot}"
            run.job.detach = functools.partial(self._detach, run)
            run.task = asyncio.create_task(self._execute(run), name=f"job:{run.job.key}")
        self._gauges()

    def _detach(self, run: JobRun) -> None:
        """A split attempt waits for its chunks: its slot can encode them meanwhile."""
        if self._runs.get(run.job.key) is run and run.slot is not None:
            self._free_slot(run)
            self._pump()

    async def _execute(self, run: JobRun) -> None:
        run.begun = True
        finished = False
        try:
            await self._pipeline.execute(run.job)
            finished = True
        except asyncio.CancelledError:
            if run.job.chunk is not None and run.job.stop_reason in ("cancel", "deleted"):
                finished = True  # the chunk's attempt ended: nothing left to redo
            else:
                log.info("attempt abandoned", extra={"job_id": run.job.job_id})
        except Exception:  # publishing the outcome failed: leave the records to a rerun
            log.exception("attempt ended without an outcome", extra={"job_id": run.job.job_id})
        finally:
            self._release(run, finished)

    def _release(self, run: JobRun, finished: bool) -> None:
        if self._runs.get(run.job.key) is run:
            del self._runs[run.job.key]
        self._free_slot(run)
        if run.timer is not None:
            run.timer.cancel()
        if finished:
            self._on_finished(run.partition, run.offsets)
        if not self._runs:
            self._idle.set()
        self._pump()

    def stop(self, job_id: str, reason: StopReason) -> bool:
        """Cancel, delete, fail (stalled) or abandon a job queued or running here, with every
        chunk of it this worker holds."""
        chunks = [r.job.key for r in self._runs.values() if r.job.chunk and r.job.job_id == job_id]
        stopped = [self._stop(key, reason) for key in [job_id, *chunks]]
        return any(stopped)

    def stop_chunks(self, job_id: str, below_attempt: int) -> None:
        """Chunks of the job's attempts before ``below_attempt`` (they ended): stop them."""
        for run in list(self._runs.values()):
            job = run.job
            if job.chunk is not None and job.job_id == job_id and job.attempt < below_attempt:
                self._stop(job.key, "cancel")

    def _stop(self, key: str, reason: StopReason) -> bool:
        run = self._runs.get(key)
        if run is None or run.job.stop_reason is not None:
            return False
        run.job.stop_reason = reason
        if run.task is not None and run.begun:
            run.task.cancel()  # ffmpeg is killed as the cancellation unwinds
            return True
        if run.task is not None:  # created but never ran: it will not clean up after itself
            run.task.cancel()
            run.task = None
            self._free_slot(run)
        if run.job.chunk is not None:  # its attempt ended or is ending: nothing to publish
            self._release(run, finished=reason in ("cancel", "deleted"))
        elif reason == "cancel":
            run.task = asyncio.create_task(self._cancel_queued(run))
        else:
            self._release(run, finished=reason == "deleted")
        return True

    def _free_slot(self, run: JobRun) -> None:
        if run.slot is not None:
            self._free_slots.append(run.slot)
            run.slot = None

    async def _cancel_queued(self, run: JobRun) -> None:
        """A job that never started here: only the ``cancelled`` event to publish."""
        finished = False
        try:
            job = run.job
            event = JobCancelled(job_id=job.job_id, worker_id=None, attempt=job.attempt - 1)
            await self._pipeline.emit(job, event)
            finished = True
        except Exception:
            log.exception("could not publish a cancel", extra={"job_id": run.job.job_id})
        finally:
            self._release(run, finished)

    def stalled(self, timeout_s: float) -> list[str]:
        """Running jobs whose progress has not moved for ``timeout_s``."""
        return [job_id for job_id, idle in self.without_progress().items() if idle > timeout_s]

    def without_progress(self) -> dict[str, float]:
        """Seconds since the last progress of each running job."""
        now = time.monotonic()
        return {
            job_id: now - run.job.progress.last_advance
            for job_id, run in self._runs.items()
            if run.slot is not None and run.job.progress is not None
        }

    async def settle(self, partitions: Iterable[TopicPartition], grace_s: float) -> None:
        """Give the runs encoding for ``partitions`` up to ``grace_s`` to finish (a revoke:
        the partitions may move); queued, waiting and detached runs are left as they are."""
        wanted = set(partitions)
        tasks = [
            run.task
            for run in self._runs.values()
            if run.partition in wanted and run.task is not None and run.slot is not None
        ]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)

    async def release(self, partitions: Iterable[TopicPartition], grace_s: float) -> None:
        """Hand partitions over: drop their queued jobs, give running ones ``grace_s``, abandon
        the rest (their records stay uncommitted and are redone by the next owner)."""
        wanted = set(partitions)
        runs = [run for run in self._runs.values() if run.partition in wanted]
        for run in runs:
            if run.task is None:
                self._release(run, finished=False)
        tasks = [run.task for run in runs if run.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        for run in runs:
            if run.task is not None and not run.task.done():
                self._stop(run.job.key, "abandon")
        if tasks:
            await asyncio.wait(tasks)

    def _gauges(self) -> None:
        IN_FLIGHT.set(self.running)
        QUEUED.set(len(self._runs) - self.running)
