"""Cancels and deletes seen as soon as they are written, even while partitions are paused.

The group consumer pauses its partitions while the pool is full, and a paused partition
delivers nothing, including the ``cancel_requested`` of a job running here. So a second,
group-less consumer tails every partition from its end and only looks at the ``ce_type``
header: a cancel or delete for a job queued or running in this process stops it at once.
Anything else (a job not here) is left to the group consumer, which reads every record in order.

It also serves split attempts, whatever the group does: the outcome of an attempt
(``completed``, ``failed``, ``cancelled``, ``retry_scheduled``) stops the chunks of that attempt
queued or running here, and chunk outcomes go to the :class:`ChunkBoard` of the attempt
waiting for them in this process.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer

from schemas.envelope import DecodeError, decode
from schemas.events import (
    CancelRequested,
    JobCancelled,
    JobCompleted,
    JobDeleted,
    JobFailed,
    RetryScheduled,
    StageCompleted,
)
from services.core.kafka.clients import topic_partitions
from services.transcoder.consume.pool import JobPool
from services.transcoder.split.board import ChunkBoard

log = logging.getLogger(__name__)

_STOP_TYPES = {CancelRequested.type.encode(): "cancel", JobDeleted.type.encode(): "deleted"}
_ENDS = {t.type.encode() for t in (JobCompleted, JobFailed, JobCancelled, RetryScheduled)}
_STAGE = StageCompleted.type.encode()


async def assign_all_from_end(consumer: AIOKafkaConsumer, topic: str) -> None:
    """Assign every partition of ``topic`` and start at its end."""
    assignment = await topic_partitions(consumer, topic)
    consumer.assign(assignment)
    await consumer.seek_to_end(*assignment)


async def tail_stops(
    consumer: AIOKafkaConsumer, pool: JobPool, board: ChunkBoard | None = None
) -> None:
    """Forever: stop jobs of this pool as their cancel/delete records appear; stop the chunks
    of ended attempts; hand chunk outcomes to the attempts waiting here."""
    while True:
        batch = await consumer.getmany(timeout_ms=200, max_records=500)
        for records in batch.values():
            for record in records:
                ce_type = dict(record.headers).get("ce_type") or b""
                if ce_type == _STAGE and (board is None or not board.wants(_key(record.key))):
                    continue
                if ce_type != _STAGE and ce_type not in _STOP_TYPES and ce_type not in _ENDS:
                    continue
                try:
                    event = decode(record.key, record.value, record.headers).event
                except DecodeError:
                    continue  # the group consumer skips it; the projector dead-letters it
                _dispatch(ce_type, event, pool, board)


def _key(key: bytes | None) -> str:
    return (key or b"").decode(errors="replace")


def _dispatch(ce_type: bytes, event: object, pool: JobPool, board: ChunkBoard | None) -> None:
    if isinstance(event, StageCompleted):
        if board is not None:
            board.deliver(event)
        return
    if isinstance(event, RetryScheduled):
        pool.stop_chunks(event.job_id, event.attempt)  # the attempt before it ended
        return
    if isinstance(event, JobCompleted | JobFailed | JobCancelled):
        pool.stop_chunks(event.job_id, event.attempt + 1)
        return
    reason = _STOP_TYPES.get(ce_type)
    job_id = getattr(event, "job_id", "")
    if reason is not None and pool.stop(job_id, "deleted" if reason == "deleted" else "cancel"):
        log.info("stopping job on %s", reason, extra={"job_id": job_id})
