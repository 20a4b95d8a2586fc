"""``vidpipe tap``: print a topic's records as JSON lines, for people and analytics scripts.

Job events print in the CloudEvents JSON format (structured mode); derived analytics
records print as their JSON value; dead letters print with their error headers and the
original bytes in base64. Reads without a consumer group, so it never disturbs one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas.envelope import DecodeError, Envelope, decode
from schemas.topics import JOBS, JOBS_DLQ, PROGRESS
from services.core.kafka.clients import topic_partitions
from services.core.kafka.security import PLAINTEXT, KafkaSecurity, client_options


def cloudevent_json(envelope: Envelope) -> dict[str, Any]:
    """The envelope as a CloudEvents 1.0 JSON object (extensions lower-case, per the spec)."""
    event = envelope.event
    out: dict[str, Any] = {
        "specversion": "1.0",
        "id": envelope.id,
        "type": event.type,
        "source": envelope.source,
        "subject": event.job_id,
        "time": envelope.time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "schemaversion": str(event.schema_version),
        "data": event.model_dump(mode="json"),
        "partition": envelope.partition,
        "offset": envelope.offset,
    }
    if envelope.correlation_id:
        out["correlationid"] = envelope.correlation_id
    return out


def render(record: ConsumerRecord[bytes, bytes], logical_topic: str) -> dict[str, Any]:
    headers = list(record.headers or ())
    if logical_topic == JOBS_DLQ.name:
        return {
            "partition": record.partition,
            "offset": record.offset,
            "key": (record.key or b"").decode("utf-8", "replace"),
            "headers": {k: v.decode("utf-8", "replace") for k, v in headers},
            "value_base64": base64.b64encode(record.value or b"").decode(),
        }
    if logical_topic in (JOBS.name, PROGRESS.name):
        envelope = decode(
            record.key or b"",
            record.value or b"",
            headers,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp,
        )
        return cloudevent_json(envelope)
    return {
        "partition": record.partition,
        "offset": record.offset,
        "key": (record.key or b"").decode("utf-8", "replace"),
        "value": json.loads(record.value or b"null"),
    }


async def tap(
    bootstrap_servers: str,
    topic: str,
    logical_topic: str,
    *,
    from_beginning: bool = False,
    event_type: str | None = None,
    max_records: int | None = None,
    idle_exit_s: float | None = None,
    out: TextIO = sys.stdout,
    security: KafkaSecurity = PLAINTEXT,
) -> int:
    """Print records until cancelled, ``max_records`` printed, or ``idle_exit_s`` of silence."""
    consumer = AIOKafkaConsumer(
        **client_options(security),
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    printed = 0
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        last_seen = time.monotonic()
        while max_records is None or printed < max_records:
            batch = await consumer.getmany(timeout_ms=200)
            if not batch and idle_exit_s is not None and time.monotonic() - last_seen > idle_exit_s:
                break
            for record in sorted(
                (r for records in batch.values() for r in records), key=lambda r: r.timestamp
            ):
                last_seen = time.monotonic()
                try:
                    shown = render(record, logical_topic)
                except DecodeError as exc:
                    print(f"vidpipe tap: offset {record.offset}: {exc}", file=sys.stderr)
                    continue
                if event_type and shown.get("type") != event_type:
                    continue
                out.write(json.dumps(shown, separators=(",", ":")) + "\n")
                out.flush()
                printed += 1
                if max_records is not None and printed >= max_records:
                    break
    finally:
        await consumer.stop()
    return 0


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = await topic_partitions(consumer, topic)
        if found:
            return found
        await asyncio.sleep(0.1)
    raise SystemExit(f"vidpipe tap: topic {topic!r} does not exist")
