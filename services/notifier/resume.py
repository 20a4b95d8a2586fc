"""Resuming a stream: the events a client missed, from the hub's ring and, if older, the log.

A client comes back with the cursor of the last event it got (``Last-Event-ID``). Per
partition, what it missed is the records from its cursor up to the hub's position when it
re-subscribed: the recent part comes from the hub's ring (no I/O); an older part is read from
Kafka by the instance's one ``LogReader``, which serves every resume waiting at that moment
with a single pass over the union of their ranges. Each replayed event carries the cursor
reached so far, so a client cut off in the middle of a replay resumes from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas.envelope import Envelope
from services.core.kafka.clients import make_consumer
from services.core.kafka.security import PLAINTEXT, KafkaSecurity
from services.notifier import cursor
from services.notifier.hub import Attachment, decode_record, in_time_order
from services.notifier.metrics import LOG_READS, REPLAYS
from services.notifier.notifications import from_envelope, render
from services.notifier.queries import ReadModel
from services.notifier.subscriber import Subscriber


class ReplayTimeout(RuntimeError):
    """The log did not yield the missed records in time; the stream ends, the client retries."""


Ranges = dict[TopicPartition, tuple[int, int]]
Decoded = tuple[ConsumerRecord, Envelope | None]


@dataclass
class _Request:
    ranges: Ranges
    job_id: str | None  # a per-job stream needs only that job's records
    queue: asyncio.Queue[list[Decoded] | BaseException | None] = field(
        default_factory=asyncio.Queue
    )


class LogReader:
    """The instance's one replay consumer (no group), shared by every resume.

    Requests that arrive while a pass runs wait for the next one; each pass reads the union of
    its requests' ranges once, decodes each record once, and hands every request the records
    in its own ranges (only its job's, for a per-job stream).
    """

    def __init__(
        self, bootstrap: str, timeout_s: float, *, security: KafkaSecurity = PLAINTEXT
    ) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._timeout_s = timeout_s
        self._consumer: AIOKafkaConsumer | None = None
        self._waiting: list[_Request] = []
        self._task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def read(self, ranges: Ranges, job_id: str | None) -> AsyncIterator[list[Decoded]]:
        """Batches of decoded records in ``[start, end)`` of each partition, in offset order."""
        request = _Request(ranges, job_id)
        self._waiting.append(request)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._serve())
        while (item := await request.queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def _serve(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._pass(batch)
                except Exception as exc:  # each waiting resume gets it
                    for request in batch:
                        request.queue.put_nowait(exc)
                else:
                    for request in batch:
                        request.queue.put_nowait(None)
        finally:
            self._task = None

    async def _pass(self, requests: list[_Request]) -> None:
        union: Ranges = {}
        for request in requests:
            for tp, (start, end) in request.ranges.items():
                low, high = union.get(tp, (start, end))
                union[tp] = (min(low, start), max(high, end))
        LOG_READS.inc()
        consumer = await self._started()
        consumer.assign(list(union))
        for tp, (start, _) in union.items():
            consumer.seek(tp, start)  # below the log start: reset to earliest (compaction)
        pending = set(union)
        deadline = time.monotonic() + self._timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise ReplayTimeout(f"replay of {len(pending)} partitions timed out")
            fetched = await consumer.getmany(*pending, timeout_ms=200)
            wanted = [[r for r in rs if r.offset < union[tp][1]] for tp, rs in fetched.items()]
            if any(wanted):
                self._hand_out(requests, [(r, decode_record(r)) for r in in_time_order(wanted)])
            for tp in list(pending):
                if await consumer.position(tp) >= union[tp][1]:
                    pending.discard(tp)
                    consumer.pause(tp)

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = make_consumer(
                self._bootstrap,
                group_id=None,
                client_id="vidpipe-notifier-replay",
                security=self._security,
                fetch_max_wait_ms=50,
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    @staticmethod
    def _hand_out(requests: list[_Request], decoded: list[Decoded]) -> None:
        by_job: dict[str, list[Decoded]] = {}
        for item in decoded:
            if item[1] is not None:
                by_job.setdefault(item[1].event.job_id, []).append(item)
        for request in requests:
            candidates = decoded if request.job_id is None else by_job.get(request.job_id, [])
            mine = [
                (r, env)
                for r, env in candidates
                if (span := request.ranges.get(TopicPartition(r.topic, r.partition)))
                and span[0] <= r.offset < span[1]
            ]
            if mine:
                request.queue.put_nowait(mine)


async def replay(
    sub: Subscriber,
    start: cursor.Offsets,
    attachment: Attachment,
    *,
    reads: ReadModel,
    log_reader: LogReader,
    topics: tuple[str, ...],
) -> AsyncIterator[bytes]:
    """The frames ``sub`` missed since ``start``; then sets ``sub.floor`` if it is still ahead."""
    seen = cursor.copy(start)
    ranges: Ranges = {
        TopicPartition(topics[t], p): (seen[t][p], attachment.coverage[t][p])
        for t, parts in enumerate(seen)
        for p, offset in enumerate(parts)
        if offset < attachment.coverage[t][p]
    }
    slots = {topic: index for index, topic in enumerate(topics)}
    if ranges:
        REPLAYS.labels("log").inc()
        async for decoded in log_reader.read(ranges, sub.job_id):
            envelopes = [env for _, env in decoded if env is not None]
            owners = await reads.owners(e.event.job_id for e in envelopes) if sub.user_id else {}
            for record, envelope in decoded:
                seen[slots[record.topic]][record.partition] = record.offset + 1
                if envelope is not None and sub.wants(
                    envelope.event.job_id, owners.get(envelope.event.job_id)
                ):
                    yield render(from_envelope(envelope), cursor.encode(seen))
        seen = cursor.merge(seen, attachment.coverage)  # each range was read to its end
    elif not cursor.dominates(seen, attachment.position):
        REPLAYS.labels("buffer").inc()
    # only the entries this stream may want (the hub's per-job or per-owner index)
    recent = [e for e in attachment.recent if e.offset >= seen[e.topic][e.partition]]
    unknown = {e.note.job_id for e in recent if e.owner is None}
    owners = await reads.owners(unknown) if sub.user_id and unknown else {}
    for entry in recent:
        seen[entry.topic][entry.partition] = entry.offset + 1
        if sub.wants(entry.note.job_id, entry.owner or owners.get(entry.note.job_id)):
            yield render(entry.note, cursor.encode(seen))
    final = cursor.merge(seen, attachment.position)
    sub.floor = None if final == attachment.position else final
