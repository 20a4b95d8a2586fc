"""What the broker says about offsets: the ends of topics, and the offsets consumer groups
committed to Kafka (its admin API). For the admin overview's consumer lag and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.core.kafka.security import PLAINTEXT, KafkaSecurity, client_options

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


class BrokerOffsets:
    """Reads offsets through one admin client and one group-less consumer, opened on first
    use and kept (a fresh pair per call costs ~0.4 s of connections); reopened after a
    failure. ``close`` at shutdown."""

    def __init__(self, bootstrap: str, *, security: KafkaSecurity = PLAINTEXT) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self._clients: tuple[AIOKafkaConsumer, AIOKafkaAdminClient] | None = None
        self._lock = asyncio.Lock()

    async def _open(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self._clients is None:
            consumer = AIOKafkaConsumer(
                **client_options(self.security),
                bootstrap_servers=self.bootstrap,
                enable_auto_commit=False,
            )
            admin = AIOKafkaAdminClient(
                **client_options(self.security),
                bootstrap_servers=self.bootstrap,
                client_id="vidpipe-admin",
            )
            await consumer.start()
            try:
                await admin.start()
            except BaseException:
                await consumer.stop()
                raise
            self._clients = consumer, admin
        return self._clients

    async def close(self) -> None:
        clients, self._clients = self._clients, None
        if clients is not None:
            consumer, admin = clients
            with contextlib.suppress(Exception):
                await admin.close()
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def snapshot(self, topics: Iterable[str], group_prefix: str = "") -> OffsetsSnapshot:
        """Ask the broker about ``topics`` and about every consumer group whose id starts with
        ``group_prefix``; one call at a time."""
        async with self._lock:
            try:
                return await _snapshot(*await self._open(), list(topics), group_prefix)
            except BaseException:
                await self.close()  # a broken connection: start afresh next time
                raise


async def _snapshot(
    consumer: AIOKafkaConsumer, admin: AIOKafkaAdminClient, wanted: list[str], group_prefix: str
) -> OffsetsSnapshot:
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
    return OffsetsSnapshot(
        beginnings={(tp.topic, tp.partition): o for tp, o in beginnings.items()},
        ends={(tp.topic, tp.partition): o for tp, o in ends.items()},
        committed=committed,
    )
