"""Resuming a stream: the events a client missed, from the log and the hub's ring.

A client comes back with the cursor of the last event it got (``Last-Event-ID``). Per
partition, what it missed is the records from its cursor up to the hub's position when it
re-subscribed: the older part is read from Kafka with a short-lived consumer, the recent part
comes from the hub's ring. Each replayed event carries the cursor reached so far, so a client
cut off in the middle of a replay resumes from there.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiokafka import ConsumerRecord, TopicPartition

from services.core.kafka import make_consumer
from services.notifier import cursor
from services.notifier.hub import Attachment, decode_record, in_time_order
from services.notifier.metrics import REPLAYS
from services.notifier.notifications import from_envelope, render
from services.notifier.readmodel import ReadModel
from services.notifier.subscriber import Subscriber


class ReplayTimeout(RuntimeError):
    """The log did not yield the missed records in time; the stream ends, the client retries."""


Ranges = dict[TopicPartition, tuple[int, int]]


async def read_log(
    bootstrap: str, ranges: Ranges, timeout_s: float
) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of records in ``[start, end)`` of each partition, in offset order per partition."""
    consumer = make_consumer(
        bootstrap, group_id=None, client_id="vidpipe-notifier-replay", fetch_max_wait_ms=50
    )
    await consumer.start()
    try:
        consumer.assign(list(ranges))
        for tp, (start, _) in ranges.items():
            consumer.seek(tp, start)  # below the log start: reset to earliest (compaction)
        pending = set(ranges)
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise ReplayTimeout(f"replay of {len(pending)} partitions timed out")
            batch = await consumer.getmany(*pending, timeout_ms=200)
            wanted = [[r for r in rs if r.offset < ranges[tp][1]] for tp, rs in batch.items()]
            if any(wanted):
                yield in_time_order(wanted)
            for tp in list(pending):
                if await consumer.position(tp) >= ranges[tp][1]:
                    pending.discard(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()


async def replay(
    sub: Subscriber,
    start: cursor.Offsets,
    attachment: Attachment,
    *,
    reads: ReadModel,
    bootstrap: str,
    topics: tuple[str, ...],
    timeout_s: float,
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
        async for records in read_log(bootstrap, ranges, timeout_s):
            decoded = [(r, decode_record(r)) for r in records]
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
    recent = [e for e in attachment.recent if e.offset >= seen[e.topic][e.partition]]
    unknown = {e.note.job_id for e in recent if e.owner is None}
    owners = await reads.owners(unknown) if sub.user_id and unknown else {}
    for entry in recent:
        seen[entry.topic][entry.partition] = entry.offset + 1
        if sub.wants(entry.note.job_id, entry.owner or owners.get(entry.note.job_id)):
            yield render(entry.note, cursor.encode(seen))
    final = cursor.merge(seen, attachment.position)
    sub.floor = None if final == attachment.position else final
