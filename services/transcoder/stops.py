"""Cancels and deletes seen as soon as they are written, even while partitions are paused.

The group consumer pauses its partitions while the pool is full, and a paused partition
delivers nothing, including the ``cancel_requested`` of a job running here. So a second,
group-less consumer tails every partition from its end and only looks at the ``ce_type``
header: a cancel or delete for a job queued or running in this process stops it at once.
Anything else (a job not here) is left to the group consumer, which reads every record in order.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer

from schemas.envelope import DecodeError, decode
from schemas.events import CancelRequested, JobDeleted
from services.core.kafka import topic_partitions
from services.transcoder.pool import JobPool

log = logging.getLogger(__name__)

_STOP_TYPES = {CancelRequested.type.encode(): "cancel", JobDeleted.type.encode(): "deleted"}


async def assign_all_from_end(consumer: AIOKafkaConsumer, topic: str) -> None:
    """Assign every partition of ``topic`` and start at its end."""
    assignment = await topic_partitions(consumer, topic)
    consumer.assign(assignment)
    await consumer.seek_to_end(*assignment)


async def tail_stops(consumer: AIOKafkaConsumer, pool: JobPool) -> None:
    """Forever: stop jobs of this pool as their cancel/delete records appear."""
    while True:
        batch = await consumer.getmany(timeout_ms=500, max_records=500)
        for records in batch.values():
            for record in records:
                reason = _STOP_TYPES.get(dict(record.headers).get("ce_type") or b"")
                if reason is None:
                    continue
                try:
                    job_id = decode(record.key, record.value, record.headers).event.job_id
                except DecodeError:
                    continue  # the group consumer skips it; the projector dead-letters it
                if pool.stop(job_id, "deleted" if reason == "deleted" else "cancel"):
                    log.info("stopping job on %s", reason, extra={"job_id": job_id})
