"""The projector loop: Kafka batches in, one PostgreSQL transaction per batch out.

Exactly-once effect without Kafka transactions: the next offsets are stored in the same
transaction as the rows, positions come from there (never from Kafka's committed offsets),
and each commit first checks that the stored offsets are still the ones this process last
wrote. If they moved (a rebuild swapped tables in, or a zombie member of the group committed)
the batch is rolled back and the partitions are sought to what is stored.

Several members of the group (``vidpipe projector`` processes) commit side by side: they hold
the group's advisory lock shared, and row locks on their partitions' offsets and on the job
rows they load; see ``ReadModelStore.lock_partitions``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from schemas.envelope import DecodeError, Envelope, KafkaRecord, dead_letter
from schemas.events import JobProgress
from services.core.runtime.metrics import forget_consumer_lag, set_consumer_lag
from services.projector import metrics
from services.projector.decoding import decode_record
from services.projector.postgres import OffsetKey, ReadModelStore
from services.projector.projection import BatchOutcome, project

log = logging.getLogger(__name__)

Batch = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]
DeadLetterSink = Callable[[Sequence[KafkaRecord]], Awaitable[None]]


class _Fenced(Exception):
    def __init__(self, stale: list[TopicPartition]) -> None:
        super().__init__(f"stored offsets moved for {stale}")
        self.stale = stale


DECODE_AHEAD = 2
"""Decoded batches waiting for their transaction, at most."""

DECODE_CHUNK = 64
"""Records decoded between two yields to the event loop, so that the transaction of the
previous batch moves on while the next batch is decoded."""


@dataclass
class _Decoded:
    generation: int  # of the positions the records were fetched from
    started: float
    lifecycle: list[Envelope] = field(default_factory=list)
    ticks: list[Envelope] = field(default_factory=list)
    dead: list[KafkaRecord] = field(default_factory=list)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)


def _key(tp: TopicPartition) -> OffsetKey:
    return tp.topic, tp.partition


class Projector:
    """Applies consumer batches to a :class:`ReadModelStore`; owns the expected positions."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        store: ReadModelStore,
        dead_letters: DeadLetterSink | None,
    ) -> None:
        self.consumer = consumer
        self.store = store
        self._dead_letters = dead_letters
        self.expected: dict[TopicPartition, int] = {}
        self.batches = 0
        # Bumped by every seek and revoke: a batch decoded before it may hold records from
        # old positions, so it is dropped and its partitions fetched again from ``expected``.
        self._generation = 0
        # aiokafka runs the rebalance listener concurrently with the fetch loop: the
        # connection and ``expected`` are shared, so seeks and commits take turns.
        self._turn = asyncio.Lock()

    async def seek_to_stored(self, partitions: Sequence[TopicPartition]) -> None:
        """Position ``partitions`` at their stored offsets (the log start when none is)."""
        if not partitions:
            return
        begins = await self.consumer.beginning_offsets(list(partitions))
        ends = await self.consumer.end_offsets(list(partitions))
        async with self._turn, self.store.conn.transaction():
            await self.store.lock()
            stored = await self.store.offsets()
            changed: dict[OffsetKey, int] = {}
            for tp in partitions:
                offset = self._checked(tp, stored.get(_key(tp)), begins[tp], ends[tp])
                if offset != stored.get(_key(tp)):
                    changed[_key(tp)] = offset
                self.consumer.seek(tp, offset)
                self.expected[tp] = offset
            self._generation += 1
            # Stored at once: ingest compares these with what it produced, and a commit is
            # only accepted when the stored offset is the one this process expects.
            await self.store.save_offsets(changed)

    def _checked(self, tp: TopicPartition, offset: int | None, begin: int, end: int) -> int:
        if offset is None:
            return begin
        if offset > end:
            metrics.LOG_RESETS.inc()
            log.error(
                "stored offset %d is beyond the end %d of %s[%d]: the log was reset "
                "(embedded broker restarted?); applying it again from its beginning",
                offset,
                end,
                tp.topic,
                tp.partition,
            )
            return begin
        if offset < begin:
            log.warning("offset %d of %s[%d] was deleted by retention", offset, *_key(tp))
            return begin
        return offset

    def forget(self, partitions: Sequence[TopicPartition]) -> None:
        """Stop applying records of revoked partitions."""
        for tp in partitions:
            self.expected.pop(tp, None)
            forget_consumer_lag(metrics.LAG_GROUP, tp.topic, tp.partition)
        self._generation += 1

    async def run(self, max_records: int) -> None:
        """Fetch and apply batches until cancelled. Up to ``DECODE_AHEAD`` batches are
        fetched and decoded while the transaction of an earlier one runs, so this process's
        core and PostgreSQL's work at the same time; transactions stay one at a time, in
        fetch order. The loop waits for whichever comes first, a fetch or a commit: it never
        sits out a transaction while records are there to decode."""
        ahead: deque[_Decoded] = deque()
        committing: asyncio.Task[BatchOutcome | None] | None = None
        fetching: asyncio.Task[tuple[int, Batch]] | None = None
        try:
            while True:
                if committing is None and ahead:
                    committing = asyncio.create_task(self.apply(ahead.popleft()))
                if fetching is None and len(ahead) < DECODE_AHEAD:
                    fetching = asyncio.create_task(self._fetch(max_records))
                pending = [task for task in (committing, fetching) if task is not None]
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if committing is not None and committing in done:
                    finished, committing = committing, None
                    finished.result()  # raises what the transaction raised
                if fetching is not None and fetching in done:
                    fetched, fetching = fetching, None
                    generation, batch = fetched.result()
                    decoded = await self.decode(batch, generation)
                    if decoded is not None:
                        ahead.append(decoded)
                    elif not batch:
                        self.update_lag()
        finally:
            for task in (committing, fetching):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)

    async def _fetch(self, max_records: int) -> tuple[int, Batch]:
        """The next batch (empty after half a second without records), and the generation
        of the positions it was fetched from."""
        batch = await self.consumer.getmany(timeout_ms=500, max_records=max_records)
        return self._generation, batch

    async def handle(self, batch: Batch) -> BatchOutcome | None:
        """Apply one batch exactly once; None when nothing was applied (empty or fenced)."""
        decoded = await self.decode(batch)
        return None if decoded is None else await self.apply(decoded)

    async def apply(self, decoded: _Decoded) -> BatchOutcome | None:
        """Commit a decoded batch; None when it was fenced or fetched before a seek."""
        if decoded.dead and self._dead_letters is not None:
            await self._dead_letters(decoded.dead)  # before the commit: at least once
        try:
            async with self._turn:
                if decoded.generation != self._generation:
                    self._fetch_again(decoded.next_offsets)
                    return None
                outcome = await self._commit(decoded)
                for tp, offset in decoded.next_offsets.items():
                    if tp in self.expected:  # not revoked meanwhile
                        self.expected[tp] = offset
        except _Fenced as fenced:
            metrics.FENCED_BATCHES.inc()
            log.warning("%s; seeking to the stored offsets", fenced)
            await self._rewind(decoded.next_offsets, fenced.stale)
            return None
        except asyncpg.DeadlockDetectedError as exc:
            # Members lock rows in key order, so this is not expected; if PostgreSQL ever
            # picks this batch as a deadlock's victim, it was rolled back: apply it again.
            log.warning("batch rolled back by a deadlock, fetching it again: %s", exc)
            self._fetch_again(decoded.next_offsets)
            return None
        self.batches += 1
        self._observe(outcome, decoded, time.perf_counter() - decoded.started)
        return outcome

    async def _commit(self, decoded: _Decoded) -> BatchOutcome:
        async with self.store.conn.transaction():
            stored = await self.store.lock_partitions([_key(tp) for tp in decoded.next_offsets])
            stale = [
                tp for tp in decoded.next_offsets if stored.get(_key(tp)) != self.expected.get(tp)
            ]
            if stale:
                raise _Fenced(stale)
            ids = {e.subject for e in decoded.lifecycle} | {e.subject for e in decoded.ticks}
            outcome = project(await self.store.load(ids), decoded.lifecycle, decoded.ticks)
            offsets = {_key(tp): offset for tp, offset in decoded.next_offsets.items()}
            await self.store.write(outcome, offsets)
        return outcome

    async def _rewind(
        self, fetched: Mapping[TopicPartition, int], stale: list[TopicPartition]
    ) -> None:
        self._fetch_again([tp for tp in fetched if tp not in stale])
        await self.seek_to_stored([tp for tp in stale if tp in self.consumer.assignment()])

    def _fetch_again(self, partitions: Iterable[TopicPartition]) -> None:
        """Not applied: fetch these partitions again from where this process stands."""
        assigned = self.consumer.assignment()
        for tp in partitions:
            if tp in self.expected and tp in assigned:
                self.consumer.seek(tp, self.expected[tp])
        self._generation += 1

    async def decode(self, batch: Batch, generation: int | None = None) -> _Decoded | None:
        """Decode a batch fetched at ``generation`` (by default: now), dead letters aside;
        None when it holds nothing to apply."""
        out = _Decoded(self._generation if generation is None else generation, time.perf_counter())
        for tp, records in batch.items():
            floor = self.expected.get(tp)
            if floor is None:
                continue  # revoked while fetched
            for start in range(0, len(records), DECODE_CHUNK):
                for record in records[start : start + DECODE_CHUNK]:
                    if record.offset < floor:
                        continue  # applied before a re-seek
                    try:
                        envelope = decode_record(record)
                    except DecodeError as exc:
                        out.dead.append(_dead(record, exc))
                    else:
                        is_tick = isinstance(envelope.event, JobProgress)
                        (out.ticks if is_tick else out.lifecycle).append(envelope)
                    out.next_offsets[tp] = record.offset + 1
                await asyncio.sleep(0)
        return out if out.next_offsets else None

    def _observe(self, outcome: BatchOutcome, decoded: _Decoded, seconds: float) -> None:
        metrics.BATCH_SECONDS.observe(seconds)
        metrics.BATCH_RECORDS.observe(len(decoded.lifecycle) + len(decoded.ticks))
        for event_type, count in outcome.applied.items():
            metrics.EVENTS_APPLIED.labels(event_type).inc(count)
        for reason, count in outcome.skipped.items():
            metrics.EVENTS_SKIPPED.labels(reason).inc(count)
        metrics.PROGRESS_COALESCED.inc(outcome.coalesced)
        metrics.DEAD_LETTERS.inc(len(decoded.dead))
        for event_type, seconds in outcome.since_upload:
            metrics.SINCE_UPLOAD.labels(event_type).observe(seconds)
        self.update_lag()

    def update_lag(self) -> None:
        """Set the lag gauge of every assigned partition from the last fetch's high watermark."""
        assigned = self.consumer.assignment()
        for tp, position in self.expected.items():
            if tp not in assigned:  # given to another member an instant ago
                continue
            high = self.consumer.highwater(tp)
            if high is not None:
                metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(high - position, 0))
                set_consumer_lag(metrics.LAG_GROUP, tp.topic, tp.partition, high - position)


def _dead(record: ConsumerRecord[bytes, bytes], exc: DecodeError) -> KafkaRecord:
    log.warning(
        "undecodable record %s[%d]@%d to the dead-letter topic: %s",
        record.topic,
        record.partition,
        record.offset,
        exc,
    )
    return dead_letter(
        record.key,
        record.value,
        list(record.headers or ()),
        exc,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )


class SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, position at the offsets stored in PostgreSQL, not Kafka's."""

    def __init__(self, projector: Projector) -> None:
        self._projector = projector

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self._projector.forget(list(revoked))

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self._projector.seek_to_stored(list(assigned))
