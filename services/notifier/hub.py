"""The fan-out: one consumer per notifier instance, every connected client fed from it.

The hub reads every partition of ``video.jobs`` and ``video.progress`` without a consumer
group (each instance reads the whole log on its own), starting at the end. Each record moves
the hub's position (a cursor, see ``cursor``) and becomes a ``LogEntry`` whose id is that
position; the entry goes into a bounded ring of recent entries (for resumes) and into the
queue of every subscriber that follows its job. Putting an entry in a queue never waits: a
full queue drops that subscriber instead, so one slow client cannot hold up the others.
One timer, also here, marks idle streams for a heartbeat and ends every stream on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sse_starlette import ServerSentEvent
from sse_starlette.sse import AppStatus

from schemas.envelope import DecodeError, Envelope, decode
from schemas.events import JobDeleted, JobSubmitted
from services.core.access.disabled import DisabledAccounts
from services.core.kafka.clients import make_consumer
from services.core.kafka.security import PLAINTEXT, KafkaSecurity
from services.notifier import cursor
from services.notifier.metrics import CLIENTS_DROPPED, RECORDS_CONSUMED
from services.notifier.notifications import from_envelope, render
from services.notifier.queries import ReadModel
from services.notifier.subscriber import LogEntry, Subscriber

log = logging.getLogger(__name__)
OWNER_LOOKUP_TIMEOUT_S = 2.0  # owners are cached: only jobs new to this instance are looked up
EXIT_CHECK_S = 0.05  # how soon streams learn of a shutdown (a bool read per tick)


@dataclass(frozen=True)
class Attachment:
    """What a subscriber gets atomically when it joins: where the live stream starts."""

    position: cursor.Offsets
    coverage: cursor.Offsets  # the ring holds every entry at or above this, below position
    recent: list[LogEntry]


class Hub:
    """Consumes the topics and fans entries out to subscribers."""

    def __init__(
        self,
        bootstrap: str,
        topics: tuple[str, ...],
        reads: ReadModel,
        *,
        ring_size: int,
        queue_size: int,
        heartbeat_s: float,
        seed_s: float = 0.0,
        disabled: DisabledAccounts | None = None,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._topics = topics  # physical names, in cursor.TOPICS order
        self._reads = reads
        self._ring: deque[LogEntry] = deque()
        self._ring_size = ring_size
        self._chunk = max(1, queue_size // 2)  # entries delivered between two yields
        self._by_job: dict[str, set[Subscriber]] = {}
        self._by_user: dict[str, set[Subscriber]] = {}
        self._everyone: set[Subscriber] = set()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._beat_task: asyncio.Task[None] | None = None
        self._heartbeat_s = heartbeat_s
        self._seed_s = seed_s
        self._seq = itertools.count()
        self._disabled = disabled
        self._disabled_seen: frozenset[str] = frozenset()
        # role changes before the start are no news: tokens from then on are current
        self._versions_seen: dict[str, int] = dict(disabled.versions) if disabled else {}
        self._ring_by_job: dict[str, deque[LogEntry]] = {}
        self._ring_by_owner: dict[str, deque[LogEntry]] = {}
        self._ring_unowned: deque[LogEntry] = deque()  # owner unknown (lookup failed)
        self.heartbeat = b""  # the comment idle streams send, encoded once per tick
        self.heartbeat_with_id = b""  # the same plus ``id:`` the hub's position
        self.layout: list[int] = []
        self._start_end: cursor.Offsets = []  # the end of the log when the hub started
        self._caught_up = True
        self.position: cursor.Offsets = []
        self.coverage: cursor.Offsets = []

    async def start(self, timeout_s: float = 30.0) -> None:
        """Assign every partition, start at the end of the log, begin fanning out."""
        consumer = make_consumer(
            self._bootstrap,
            *self._topics,
            group_id=None,
            client_id="vidpipe-notifier",
            security=self._security,
            auto_offset_reset="latest",
            fetch_max_wait_ms=50,  # the broker may hold a fetch this long: it bounds latency
        )
        await consumer.start()
        self._consumer = consumer
        deadline = time.monotonic() + timeout_s
        while not self._assigned(consumer.assignment()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"topics {self._topics} have no partitions; create them first")
            await asyncio.sleep(0.05)
        parts = [sorted(tp for tp in consumer.assignment() if tp.topic == t) for t in self._topics]
        await consumer.seek_to_end(*[tp for group in parts for tp in group])
        self.layout = [len(group) for group in parts]
        end = [[await consumer.position(tp) for tp in group] for group in parts]
        self.position = await self._seed(consumer, parts, end)
        self.coverage = cursor.copy(self.position)
        self._start_end = end
        self._caught_up = cursor.dominates(self.position, end)
        # Serving starts now, while the seed is read (a second or so): a resumed client ahead
        # of the hub gets a floor (replay), a fresh one the end of the log (``subscribe``).
        self._task = asyncio.create_task(self._consume(consumer), name="notifier-hub")
        self._beat_task = asyncio.create_task(self._beat(), name="notifier-heartbeat")

    async def _seed(
        self, consumer: AIOKafkaConsumer, parts: list[list[TopicPartition]], end: cursor.Offsets
    ) -> cursor.Offsets:
        """Start ``seed_s`` back in the log (at most ``ring_size`` records per partition)."""
        if self._seed_s <= 0:
            return cursor.copy(end)
        since = int((time.time() - self._seed_s) * 1000)
        every = [tp for group in parts for tp in group]
        found = await consumer.offsets_for_times({tp: since for tp in every})
        first = await consumer.beginning_offsets(every)
        start: cursor.Offsets = []
        for group, ends in zip(parts, end, strict=True):
            offsets = []
            for tp, last in zip(group, ends, strict=True):
                at = found.get(tp)
                offset = max(at.offset if at is not None else last, last - self._ring_size)
                offset = max(offset, first[tp])
                consumer.seek(tp, offset)
                offsets.append(offset)
            start.append(offsets)
        return start

    def _assigned(self, assignment: Iterable[TopicPartition]) -> bool:
        return {tp.topic for tp in assignment} >= set(self._topics)

    async def stop(self) -> None:
        for task in (self._beat_task, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._consumer is not None:
            await self._consumer.stop()

    @property
    def healthy(self) -> bool:
        return self._task is not None and not self._task.done()

    def subscribe(self, sub: Subscriber, *, with_recent: bool) -> Attachment:
        """Join the live stream; no await, so no entry can slip between position and queue."""
        if sub.job_id is not None:
            self._by_job.setdefault(sub.job_id, set()).add(sub)
        elif sub.user_id is not None:
            self._by_user.setdefault(sub.user_id, set()).add(sub)
        else:
            self._everyone.add(sub)
        if not with_recent and not self.caught_up:
            sub.floor = cursor.copy(self._start_end)  # fresh: the seed is older than its snapshot
        recent = self._recent(sub) if with_recent else []
        return Attachment(cursor.copy(self.position), cursor.copy(self.coverage), recent)

    @property
    def caught_up(self) -> bool:
        """The hub has read the seed: it is at or past where the log ended when it started."""
        if not self._caught_up:
            self._caught_up = cursor.dominates(self.position, self._start_end)
        return self._caught_up

    def _recent(self, sub: Subscriber) -> list[LogEntry]:
        """The ring's entries ``sub`` may want, in ring order, without scanning the ring."""
        if sub.job_id is not None:
            return list(self._ring_by_job.get(sub.job_id, ()))
        if sub.user_id is None:
            return list(self._ring)
        owned = self._ring_by_owner.get(sub.user_id, deque())
        if not self._ring_unowned:
            return list(owned)
        return list(heapq.merge(owned, self._ring_unowned, key=lambda entry: entry.seq))

    def unsubscribe(self, sub: Subscriber) -> None:
        for index, key in ((self._by_job, sub.job_id), (self._by_user, sub.user_id)):
            if key is not None and key in index:
                index[key].discard(sub)
                if not index[key]:
                    del index[key]
        self._everyone.discard(sub)

    def subscribers(self) -> Iterator[Subscriber]:
        """Every subscriber, from the indexes (no extra per-client bookkeeping)."""
        per_key = itertools.chain(self._by_job.values(), self._by_user.values())
        return itertools.chain(self._everyone, itertools.chain.from_iterable(per_key))

    async def _beat(self) -> None:
        """Heartbeats for idle streams and the shutdown signal: one timer for all clients.

        A stream is due when it has sent nothing for ``heartbeat_s``; streams that connected
        or last sent at different moments are due on different ticks, so beats spread out.
        """
        loop = asyncio.get_running_loop()
        tick = min(0.5, self._heartbeat_s / 2)
        next_beat = loop.time() + tick
        while True:
            # the shutdown is looked for more often than beats are due: streams are told to
            # come back at once, so the old instance is gone (and its port free) sooner
            await asyncio.sleep(EXIT_CHECK_S)
            if (
                AppStatus.should_exit
            ):  # set on SIGTERM (services.core.http.serving): end every stream
                for sub in self.subscribers():
                    sub.wake()
                continue
            if loop.time() < next_beat:
                continue
            next_beat = loop.time() + tick
            self._revoke_disabled()
            now = datetime.now(UTC)
            self.heartbeat = ServerSentEvent(comment=f"ping - {now}", sep="\n").encode()
            # the id keeps idle clients' Last-Event-ID fresh, so they resume from the ring
            position = cursor.encode(self.position).encode()
            self.heartbeat_with_id = self.heartbeat[:-1] + b"id: " + position + b"\n\n"
            due = loop.time() - self._heartbeat_s
            for sub in self.subscribers():
                if sub.last_sent <= due and not sub.ping_due:
                    sub.ping_due = True
                    sub.wake()

    def _revoke_disabled(self) -> None:
        """End the open streams of users an admin disabled or changed the role of since the
        last look: their tokens are refused from now on (services.core.access.disabled), and
        so is the resume (a demoted admin stops seeing everyone's events)."""
        if self._disabled is None:
            return
        ids, versions = self._disabled.ids, self._disabled.versions
        if ids == self._disabled_seen and versions == self._versions_seen:
            return
        newly = ids - self._disabled_seen
        newly |= {u for u, v in versions.items() if v > self._versions_seen.get(u, 0)}
        self._disabled_seen, self._versions_seen = ids, versions
        if newly:
            for sub in self.subscribers():
                if sub.principal in newly:
                    sub.revoked = True
                    sub.wake()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        slots = {topic: index for index, topic in enumerate(self._topics)}
        while True:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            records = [(slots[r.topic], r) for r in in_time_order(batch.values())]
            if not records:
                continue
            RECORDS_CONSUMED.inc(len(records))
            decoded = [(slot, r, decode_record(r)) for slot, r in records]
            owners = await self._owners([env for _, _, env in decoded if env is not None])
            for start in range(0, len(decoded), self._chunk):
                if start:
                    # let clients drain their queues: a burst must not drop the fast ones
                    await asyncio.sleep(0)
                for slot, record, envelope in decoded[start : start + self._chunk]:
                    self._deliver(slot, record, envelope, owners)

    async def _owners(self, envelopes: list[Envelope]) -> dict[str, str]:
        """Owners of the batch's jobs: per-user streams and the ring's per-owner index."""
        for envelope in envelopes:
            if isinstance(envelope.event, JobSubmitted):
                self._reads.learn_owner(envelope.event.job_id, envelope.event.user_id)
            elif isinstance(envelope.event, JobDeleted):
                self._reads.forget(envelope.event.job_id)
        try:
            async with asyncio.timeout(OWNER_LOOKUP_TIMEOUT_S):
                return await self._reads.owners(env.event.job_id for env in envelopes)
        except Exception:  # a slow or failing database must not stop the fan-out for everyone
            log.warning("owner lookup failed; per-user streams may miss events", exc_info=True)
            return {}

    def _deliver(
        self, slot: int, record: ConsumerRecord, envelope: Envelope | None, owners: dict[str, str]
    ) -> None:
        self.position[slot][record.partition] = record.offset + 1
        if envelope is None:
            return
        note = from_envelope(envelope)
        event_id = cursor.encode(self.position)
        owner = owners.get(note.job_id) or self._reads.cached_owner(note.job_id)
        frame = render(note, event_id)
        entry = LogEntry(
            slot, record.partition, record.offset, owner, note, event_id, frame, next(self._seq)
        )
        self._remember(entry)
        targets = [*self._by_job.get(note.job_id, ()), *self._everyone]
        if owner is not None:
            targets.extend(self._by_user.get(owner, ()))
        for sub in targets:
            self._offer(sub, entry)

    def _remember(self, entry: LogEntry) -> None:
        """Into the ring and its indexes by job and by owner; the oldest entry leaves."""
        self._ring.append(entry)
        self._ring_by_job.setdefault(entry.note.job_id, deque()).append(entry)
        if entry.owner is None:
            self._ring_unowned.append(entry)
        else:
            self._ring_by_owner.setdefault(entry.owner, deque()).append(entry)
        if len(self._ring) <= self._ring_size:
            return
        old = self._ring.popleft()
        self.coverage[old.topic][old.partition] = old.offset + 1
        _pop_oldest(self._ring_by_job, old.note.job_id)
        if old.owner is None:
            self._ring_unowned.popleft()
        else:
            _pop_oldest(self._ring_by_owner, old.owner)

    def _offer(self, sub: Subscriber, entry: LogEntry) -> None:
        if len(sub.queue) >= sub.limit:
            sub.dropped = True  # its stream ends; the client resumes from its last id
            sub.queue.clear()
            self.unsubscribe(sub)
            CLIENTS_DROPPED.inc()
        else:
            sub.queue.append(entry)
        sub.wake()


def _pop_oldest(index: dict[str, deque[LogEntry]], key: str) -> None:
    entries = index[key]
    entries.popleft()  # the ring's oldest entry is the oldest of its job and of its owner
    if not entries:
        del index[key]


def in_time_order(partitions: Iterable[list[ConsumerRecord]]) -> list[ConsumerRecord]:
    """Records of several partitions interleaved by produce time, each partition kept in order.

    A job's lifecycle events and its progress ticks live on two topics; merging by timestamp
    keeps a fetch that holds both in the order they were produced.
    """
    return list(heapq.merge(*partitions, key=lambda record: record.timestamp))


def decode_record(record: ConsumerRecord) -> Envelope | None:
    """The envelope of a record, or ``None`` for one nobody can read (the projector DLQs it)."""
    try:
        return decode(
            record.key,
            record.value,
            record.headers,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp,
        )
    except DecodeError as exc:
        log.debug("skipping undecodable record: %s", exc)
        return None
