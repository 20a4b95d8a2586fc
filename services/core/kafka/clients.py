"""Kafka building blocks: topic creation, the event publisher, consumer defaults.

At-least-once everywhere: producers use ``acks=all`` and the idempotent producer
(a retried send never duplicates a record in the log); consumers never auto-commit
and apply each event once through their own bookkeeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from schemas.envelope import Envelope, KafkaRecord, encode
from schemas.topics import CATALOGUE, Topic
from services.core.kafka.security import PLAINTEXT, KafkaSecurity, client_options

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36


class BrokerUnavailable(RuntimeError):
    """The Kafka bootstrap servers did not answer in time."""


START_GRACE_S = 5.0


async def start_client(client: AIOKafkaAdminClient | AIOKafkaConsumer | AIOKafkaProducer) -> None:
    """``client.start()`` that leaves no connection behind when cancelled (SIGTERM).

    aiokafka's bootstrap does not close its first connection when cancelled while it
    waits for the metadata answer, so a cancelled start leaks a socket that only the
    garbage collector finds ("Unclosed AIOKafkaConnection"). Instead the start runs to
    its end (bounded by ``START_GRACE_S``) and the cancellation is raised afterwards;
    the caller's ``close()`` then closes everything the client opened.
    """
    starting = asyncio.ensure_future(client.start())
    try:
        await asyncio.shield(starting)
    except asyncio.CancelledError:
        await asyncio.wait([starting], timeout=START_GRACE_S)
        if not starting.done():
            starting.cancel()
        elif not starting.cancelled():
            starting.exception()  # retrieved: a failed start is not worth a second report
        raise


class EventPublisher(Protocol):
    """Publishes events durably (acks=all) before returning."""

    async def publish(self, envelope: Envelope) -> tuple[int, int]:
        """Send one event; return (partition, offset) once the broker has it."""
        ...

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[tuple[int, int]]:
        """Send several events; return their positions in order."""
        ...

    async def publish_spread(
        self, envelopes: Sequence[Envelope], keys: Sequence[bytes], spread: Sequence[int]
    ) -> None:
        """Send events with their own keys, each to partition ``spread[i]`` modulo the
        topic's partition count (so consecutive values land on different partitions)."""
        ...


class KafkaEventPublisher:
    """``EventPublisher`` over aiokafka. ``topic_prefix`` isolates test runs."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic_prefix: str = "",
        client_id: str = "vidpipe",
        security: KafkaSecurity = PLAINTEXT,
    ):
        self._prefix = topic_prefix
        self._producer = AIOKafkaProducer(
            **client_options(security),
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            request_timeout_ms=15000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_record(self, record: KafkaRecord) -> tuple[int, int]:
        """Send an already encoded record (used for dead letters)."""
        meta = await self._producer.send_and_wait(
            self._prefix + record.topic,
            key=record.key,
            value=record.value,
            headers=list(record.headers),
        )
        return meta.partition, meta.offset

    async def publish(self, envelope: Envelope) -> tuple[int, int]:
        return await self.send_record(encode(envelope))

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[tuple[int, int]]:
        futures = []
        for envelope in envelopes:
            record = encode(envelope)
            futures.append(
                await self._producer.send(
                    self._prefix + record.topic,
                    key=record.key,
                    value=record.value,
                    headers=list(record.headers),
                )
            )
        metas = await asyncio.gather(*futures)
        return [(m.partition, m.offset) for m in metas]

    async def publish_spread(
        self, envelopes: Sequence[Envelope], keys: Sequence[bytes], spread: Sequence[int]
    ) -> None:
        futures = []
        for envelope, key, value in zip(envelopes, keys, spread, strict=True):
            record = encode(envelope)
            topic = self._prefix + record.topic
            partitions = sorted(await self._producer.partitions_for(topic))
            futures.append(
                await self._producer.send(
                    topic,
                    key=key,
                    value=record.value,
                    headers=list(record.headers),
                    partition=partitions[value % len(partitions)],
                )
            )
        await asyncio.gather(*futures)


async def wait_for_broker(
    bootstrap_servers: str, timeout_s: float = 30.0, *, security: KafkaSecurity = PLAINTEXT
) -> None:
    """Return once the broker answers a metadata request, else raise BrokerUnavailable.

    A broker that refuses the credentials looks the same from here; aiokafka logs why
    (``SaslAuthenticationFailed``) at each attempt."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(
            **client_options(security), bootstrap_servers=bootstrap_servers, request_timeout_ms=3000
        )
        try:
            await start_client(admin)
            await admin.list_topics()
            return
        except (KafkaError, OSError) as exc:
            last = exc
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
    raise BrokerUnavailable(
        f"Kafka at {bootstrap_servers} did not answer within {timeout_s:.0f}s: {last}"
    )


async def ensure_topics(
    bootstrap_servers: str,
    *,
    topic_prefix: str = "",
    catalogue: Iterable[Topic] = CATALOGUE,
    partitions_override: int | None = None,
    security: KafkaSecurity = PLAINTEXT,
) -> list[str]:
    """Create the catalogue's topics that do not exist yet; return the ones created."""
    admin = AIOKafkaAdminClient(
        **client_options(security), bootstrap_servers=bootstrap_servers, request_timeout_ms=10000
    )
    try:  # closed even when cancelled while connecting
        await start_client(admin)
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                topic_prefix + t.name,
                partitions_override or t.partitions,
                1,
                topic_configs=dict(t.config),
            )
            for t in catalogue
            if topic_prefix + t.name not in existing
        ]
        if not wanted:
            return []
        response = await admin.create_topics(wanted)
        created = []
        for name, code, message in _topic_errors(response):
            if code == 0:
                created.append(name)
            elif code != TOPIC_ALREADY_EXISTS:  # another process won the race: fine
                raise RuntimeError(f"creating topic {name} failed: {code} {message}")
        await _wait_for_leaders(admin, [t.name for t in wanted])
        return created
    finally:
        await admin.close()


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, topics: Sequence[str], timeout_s: float = 30.0
) -> None:
    """Return once every partition of ``topics`` has a leader.

    Kafka answers CreateTopics before the partitions' leaders are known, so the first
    sends would otherwise meet ``NotLeaderForPartition`` and retry.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        described = await admin.describe_topics(list(topics))
        if all(
            t["error_code"] == 0
            and t["partitions"]
            and all(p["leader"] >= 0 and p["error_code"] == 0 for p in t["partitions"])
            for t in described
        ):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics {', '.join(topics)} have no leaders after {timeout_s}s")
        await asyncio.sleep(0.05)


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    return [(e[0], e[1], e[2] if len(e) > 2 else None) for e in response.topic_errors]


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic`` from fresh cluster metadata (none if it does not exist).

    ``consumer.topics()`` does not fill the consumer's own metadata, and Apache Kafka's first
    answer to a consumer without subscriptions names no topic, so ask for all of them.
    """
    cluster = await consumer._client.fetch_all_metadata()
    return [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]


def make_consumer(
    bootstrap_servers: str,
    *topics: str,
    group_id: str | None,
    client_id: str = "vidpipe",
    session_timeout_ms: int = 10000,
    security: KafkaSecurity = PLAINTEXT,
    **overrides: Any,
) -> AIOKafkaConsumer:
    """A consumer with vidpipe's defaults: manual commits, earliest reset, short sessions."""
    options: dict[str, Any] = {
        **client_options(security),
        "bootstrap_servers": bootstrap_servers,
        "group_id": group_id,
        "client_id": client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": session_timeout_ms,
        "heartbeat_interval_ms": max(session_timeout_ms // 4, 500),
        "max_poll_records": 500,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)
