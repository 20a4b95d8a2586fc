"""What the broker says about offsets: the ends of topics, and the offsets consumer groups
committed to Kafka (its admin API). For the admin overview's consumer lag and dead letters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

Position = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True)
class OffsetsSnapshot:
    """First and next offsets of each partition of some topics, and the offsets each consumer
    group of interest committed in Kafka."""

    beginnings: Mapping[Position, int]
    ends: Mapping[Position, int]
    committed: Mapping[str, Mapping[Position, int]]  # group -> committed next offsets

    def records(self, topic: str) -> int:
        """Records still in ``topic`` (retention and deleted records excluded)."""
        return sum(
            max(0, end - self.beginnings.get(position, 0))
            for position, end in self.ends.items()
            if position[0] == topic
        )

    def lag(self, committed: Mapping[Position, int], topic: str) -> int:
        """How far offsets ``committed`` are behind the end of ``topic`` (a partition with no
        committed offset counts from its beginning)."""
        return sum(
            max(0, end - committed.get(position, self.beginnings.get(position, 0)))
            for position, end in self.ends.items()
            if position[0] == topic
        )


async def offsets_snapshot(
    bootstrap: str, topics: Iterable[str], group_prefix: str = ""
) -> OffsetsSnapshot:
    """Ask the broker (admin API and a group-less consumer) about ``topics`` and about every
    consumer group whose id starts with ``group_prefix``."""
    wanted = list(topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="vidpipe-overview")
    await consumer.start()
    try:
        await admin.start()
        try:
            described = await admin.describe_topics(wanted)
            partitions = [
                TopicPartition(topic["topic"], p["partition"])
                for topic in described
                if topic["topic"] in wanted and not topic.get("error_code")
                for p in topic["partitions"]
            ]
            beginnings = await consumer.beginning_offsets(partitions) if partitions else {}
            ends = await consumer.end_offsets(partitions) if partitions else {}
            committed: dict[str, dict[Position, int]] = {}
            for group, _protocol in await admin.list_consumer_groups():
                if not group.startswith(group_prefix):
                    continue
                offsets = await admin.list_consumer_group_offsets(group)
                committed[group] = {
                    (tp.topic, tp.partition): meta.offset
                    for tp, meta in offsets.items()
                    if meta.offset >= 0 and tp.topic in wanted
                }
        finally:
            await admin.close()
    finally:
        await consumer.stop()
    return OffsetsSnapshot(
        beginnings={(tp.topic, tp.partition): o for tp, o in beginnings.items()},
        ends={(tp.topic, tp.partition): o for tp, o in ends.items()},
        committed=committed,
    )
