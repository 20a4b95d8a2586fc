"""The parallel consumer of ``video.jobs`` and ``video.chunks``: read, decide, hand to the
pool, commit what is done.

Per assigned partition of ``video.jobs`` it keeps the jobs' states (folded from every record
read) and the offsets still open. After an assignment it first *catches up* to the end offset
seen at that moment before deciding anything, so a job already completed further down the log
is not redone and a job left ``processing`` by a lost worker is recognised as such. A record
of ``video.chunks`` is a chunk task, handed to the pool as it comes.

Rebalances are eager (every partition is revoked), but work on a partition that comes back
is kept: the revoke only commits, and the assignment that follows abandons the runs of the
partitions that went elsewhere and resumes reading the kept ones where it was. So a split
attempt survives its chunks' partitions moving between workers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from schemas.envelope import DecodeError, decode
from schemas.events import ChunkRequested, JobCancelled, JobDeleted
from services.core.domain.jobstate import JobState
from services.core.runtime.logs import correlation_scope
from services.core.runtime.metrics import forget_consumer_lag, set_consumer_lag
from services.transcoder.attempt.model import Attempt, JobError
from services.transcoder.attempt.pipeline import Pipeline
from services.transcoder.consume.joblog import STOPS, TRIGGERS, decide, fold
from services.transcoder.consume.offsets import PartitionOffsets
from services.transcoder.consume.pool import JobPool, JobRun
from services.transcoder.metrics import CONSUMER_LAG, LAG_GROUP, UNDECODABLE_RECORDS

log = logging.getLogger(__name__)


@dataclass
class PartitionView:
    """What this worker knows about one assigned partition."""

    offsets: PartitionOffsets = field(default_factory=PartitionOffsets)
    jobs: dict[str, JobState] = field(default_factory=dict)
    catch_up_to: int | None = None  # end offset at assignment; None once caught up
    waiting: dict[str, tuple[list[int], str | None]] = field(default_factory=dict)


class JobsConsumer(ConsumerRebalanceListener):  # type: ignore[misc]
    """Drives one group consumer; also its own rebalance listener."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        pool_factory: type[JobPool],
        pipeline: Pipeline,
        *,
        capacity: int,
        rebalance_grace_s: float,
        chunk_topic: str | None = None,
        buffer: int = 0,
    ) -> None:
        self.consumer = consumer
        self.pipeline = pipeline
        self.pool = pool_factory(pipeline, capacity, self._finished, buffer)
        self.views: dict[TopicPartition, PartitionView] = {}
        self.rebalance_grace_s = rebalance_grace_s
        self.chunk_topic = chunk_topic

    # -- rebalance listener ------------------------------------------------------------
    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Commit what is done; runs go on until the assignment says where they belong."""
        revoked = [tp for tp in revoked if tp in self.views]
        if not revoked:
            return
        await self.pool.settle(revoked, self.rebalance_grace_s)
        await self.commit(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        assigned = list(assigned)
        lost = [tp for tp in self.views if tp not in assigned]
        if lost:  # queued runs dropped, running ones abandoned: their records are read again
            await self.pool.release(lost, 0)
            for tp in lost:
                del self.views[tp]
                forget_consumer_lag(LAG_GROUP, tp.topic, tp.partition)
        fresh = [tp for tp in assigned if tp not in self.views]
        ends = await self.consumer.end_offsets(fresh) if fresh else {}
        for tp in assigned:
            view = self.views.get(tp)
            if view is None:
                chunks = tp.topic == self.chunk_topic
                self.views[tp] = PartitionView(catch_up_to=None if chunks else ends.get(tp, 0))
            elif view.offsets.next_offset is not None:
                self.consumer.seek(tp, view.offsets.next_offset)  # kept: read on from there
        log.info(
            "assigned %s (kept %d, lost %d)",
            sorted((tp.topic, tp.partition) for tp in assigned),
            len(assigned) - len(fresh),
            len(lost),
        )

    # -- the loop ----------------------------------------------------------------------
    async def poll_once(self, timeout_ms: int = 200) -> None:
        """One fetch, its records handled, catch-ups checked, pausing and commits updated."""
        batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=200)
        for tp, records in batch.items():
            view = self.views.get(tp)
            if view is None:
                continue
            for record in records:
                await self._handle(tp, view, record)
        await self._check_catch_up()
        self._update_pause()
        self._update_lag()
        await self.commit(list(self.views))

    async def _handle(self, tp: TopicPartition, view: PartitionView, record: object) -> None:
        key, value, headers = record.key, record.value, record.headers  # type: ignore[attr-defined]
        offset: int = record.offset  # type: ignore[attr-defined]
        try:
            envelope = decode(
                key, value, headers, topic=tp.topic, partition=tp.partition, offset=offset
            )
        except DecodeError as exc:
            # Skipped, not dead-lettered: the projector dead-letters each bad record once.
            log.warning("skipped undecodable record at %s:%d: %s", tp.partition, offset, exc)
            UNDECODABLE_RECORDS.labels(exc.reason).inc()
            view.offsets.read(offset, finished=True)
            return
        event = envelope.event
        if isinstance(event, ChunkRequested):
            self._chunk(tp, view, offset, event, envelope.correlation_id)
            return
        job_id = event.job_id
        before = view.jobs.get(job_id)
        state = fold(before, event)
        if state is not None:
            view.jobs[job_id] = state
        if event.type in STOPS:
            self.pool.stop(job_id, "deleted" if isinstance(event, JobDeleted) else "cancel")
        if event.type not in TRIGGERS or state is before:
            view.offsets.read(offset, finished=True)  # nothing to do, or illegal/duplicate
            return
        view.offsets.read(offset)
        if view.catch_up_to is not None:
            offsets, _ = view.waiting.get(job_id, ([], None))
            view.waiting[job_id] = ([*offsets, offset], envelope.correlation_id)
            return
        await self._act(tp, view, job_id, [offset], envelope.correlation_id)

    def _chunk(
        self,
        tp: TopicPartition,
        view: PartitionView,
        offset: int,
        task: ChunkRequested,
        correlation_id: str | None,
    ) -> None:
        view.offsets.read(offset)
        job = Attempt(
            task.job_id,
            task.attempt,
            dict(task.processing_options),
            correlation_id,
            priority=task.priority,
            chunk=task,
        )
        if not self.pool.adopt(job.key, tp, [offset]):
            self.pool.submit(JobRun(job, tp, [offset]))

    async def _act(
        self,
        tp: TopicPartition,
        view: PartitionView,
        job_id: str,
        offsets: list[int],
        correlation_id: str | None,
    ) -> None:
        state = view.jobs.get(job_id)
        decision = decide(state, running_here=self.pool.has(job_id))
        with correlation_scope(correlation_id):
            if decision.action == "run" and state is not None:
                job = Attempt(
                    job_id,
                    decision.attempt,
                    dict(state.processing_options),
                    correlation_id,
                    priority=state.priority,
                    first_attempt=decision.first_attempt,
                )
                self.pool.submit(JobRun(job, tp, offsets, not_before=decision.not_before))
                return
            job = Attempt(
                job_id,
                decision.attempt,
                {} if state is None else dict(state.processing_options),
                correlation_id,
                worker_id=self.pipeline.process_id,
                first_attempt=decision.first_attempt,
            )
            if decision.action == "cancel":
                await self.pipeline.emit(
                    job, JobCancelled(job_id=job_id, worker_id=None, attempt=decision.attempt)
                )
            elif decision.action == "retry_orphan":
                lost = state.worker_id if state is not None else None
                await self.pipeline.fail(
                    job,
                    JobError(
                        "worker_lost",
                        f"worker {lost} stopped during attempt {decision.attempt}",
                        retryable=True,
                    ),
                )
        view.offsets.finish(*offsets)

    async def _check_catch_up(self) -> None:
        for tp, view in list(self.views.items()):
            if view.catch_up_to is None:
                continue
            try:
                position = await self.consumer.position(tp)
            except IllegalStateError:  # revoked meanwhile
                continue
            if position < view.catch_up_to:
                continue
            view.catch_up_to = None
            waiting, view.waiting = view.waiting, {}
            log.info("partition %d caught up; %d jobs to decide", tp.partition, len(waiting))
            for job_id, (offsets, correlation_id) in waiting.items():
                await self._act(tp, view, job_id, offsets, correlation_id)

    def _finished(self, tp: TopicPartition, offsets: list[int]) -> None:
        view = self.views.get(tp)
        if view is not None:
            view.offsets.finish(*offsets)

    def _update_pause(self) -> None:
        # views may still hold partitions a rebalance has just given to another member (until
        # on_partitions_assigned runs); pausing one of those raises IllegalStateError
        assigned = self.consumer.assignment()
        live = [
            tp for tp, view in self.views.items() if view.catch_up_to is None and tp in assigned
        ]
        paused = self.consumer.paused()
        if self.pool.busy():
            to_pause = [tp for tp in live if tp not in paused]
            if to_pause:
                self.consumer.pause(*to_pause)
        elif paused:
            self.consumer.resume(*paused)

    def _update_lag(self) -> None:
        assigned = self.consumer.assignment()
        for tp, view in self.views.items():
            if tp not in assigned:  # see _update_pause: highwater() asserts the assignment
                continue
            high = self.consumer.highwater(tp)
            position = view.offsets.committable()
            if high is not None and position is not None:
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(high - position, 0))
                set_consumer_lag(LAG_GROUP, tp.topic, tp.partition, high - position)

    async def commit(self, partitions: Iterable[TopicPartition]) -> None:
        """Commit, per partition, the offset below which every record is finished."""
        offsets = {}
        for tp in partitions:
            view = self.views.get(tp)
            target = view.offsets.to_commit() if view is not None else None
            if view is not None and target is not None:
                offsets[tp] = target
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            log.warning("commit failed (%s); the records will be read again", exc)
            return
        for tp, target in offsets.items():
            if tp in self.views:
                self.views[tp].offsets.committed = target

    async def shutdown(self, grace_s: float) -> None:
        """Stop taking work, let running jobs finish within ``grace_s``, commit, leave."""
        self.consumer.pause(*self.consumer.assignment())
        await self.pool.release(list(self.views), grace_s)
        await self.commit(list(self.views))
