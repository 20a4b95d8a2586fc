"""The consumers between a rebalance's new assignment and its callback."""

from __future__ import annotations

from aiokafka import TopicPartition

from schemas.topics import JOBS
from services.core.kafka.clients import make_consumer
from services.projector.consumer import Projector
from services.transcoder.consume.consumer import JobsConsumer, PartitionView
from services.transcoder.consume.pool import JobPool
from tests.support.infra import Infra


async def test_a_poll_skips_partitions_assigned_away_before_the_callback(
    infra: Infra, topic_prefix: str
) -> None:
    """aiokafka installs a new assignment before it calls ``on_partitions_assigned``; a poll
    in between still has views of partitions now owned by another member. Pausing (a full
    pool) or reading the lag of one of those raised and killed the worker (seen in CI)."""
    consumer = make_consumer(infra.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        kept, gone = (TopicPartition(topic_prefix + JOBS.name, p) for p in (0, 1))
        consumer.assign([kept])
        # capacity 0: the pool is always full, so every live partition is to be paused
        jobs = JobsConsumer(consumer, JobPool, None, capacity=0, rebalance_grace_s=0)  # type: ignore[arg-type]
        jobs.views = {kept: PartitionView(), gone: PartitionView()}
        assert jobs.pool.busy()
        await jobs.poll_once(timeout_ms=100)
        assert consumer.paused() == {kept}
    finally:
        await consumer.stop()


async def test_the_projectors_lag_skips_partitions_assigned_away(
    infra: Infra, topic_prefix: str
) -> None:
    """The projector's ``expected`` may likewise name a partition just assigned away."""
    consumer = make_consumer(infra.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        kept, gone = (TopicPartition(topic_prefix + JOBS.name, p) for p in (0, 1))
        consumer.assign([kept])
        projector = Projector(consumer, None, None)  # type: ignore[arg-type]
        projector.expected = {kept: 0, gone: 0}
        await consumer.getmany(timeout_ms=100)
        projector.update_lag()
    finally:
        await consumer.stop()
