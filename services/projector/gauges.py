"""Gauges read off the read model and the topics, refreshed on a timer for dashboards and alerts.

Counters say what one process did since it started; these say how things stand, whichever
process changed them: jobs by status, how long the least recently updated pending or
processing job has waited, and how many records each topic holds (a non-empty dead-letter
topic is an alert). Every projector instance exports the same values: graphs take ``max``.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.events import JobStatus
from schemas.topics import CATALOGUE
from services.core.db.engine import plain_url
from services.core.kafka.clients import make_consumer
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints
from services.projector import metrics

log = logging.getLogger(__name__)

INTERVAL_S = 15.0
"""As often as Prometheus scrapes (infra/prometheus.yml)."""

WAITING = (JobStatus.PENDING, JobStatus.PROCESSING)

# Unfinished jobs only: the (status, created_at) index keeps this cheap however many finished
# jobs the table holds; finished ones are counted by the transcoders (jobs_processed_total).
_WAITING = (
    "SELECT status, count(*) AS n, EXTRACT(EPOCH FROM now() - min(updated_at))::float8 AS age "
    "FROM jobs WHERE status = ANY($1::text[]) GROUP BY status"
)


async def refresh_jobs(conn: asyncpg.Connection) -> None:
    """Set ``vidpipe_jobs`` and ``vidpipe_jobs_oldest_update_seconds`` from the read model."""
    rows = {row["status"]: row for row in await conn.fetch(_WAITING, list(WAITING))}
    for status in WAITING:
        row = rows.get(status.value)
        metrics.JOBS.labels(status.value).set(row["n"] if row else 0)
        metrics.OLDEST_UPDATE.labels(status.value).set(max(row["age"], 0.0) if row else 0.0)


async def refresh_topics(consumer: AIOKafkaConsumer, settings: Settings) -> None:
    """Set ``vidpipe_topic_records`` for every topic of the catalogue (all its partitions,
    also those added after it was created)."""
    await consumer.topics()  # fresh metadata: the partitions each topic has now
    for topic in CATALOGUE:
        name = settings.topic(topic.name)
        found = consumer.partitions_for_topic(name) or range(topic.partitions)
        partitions = [TopicPartition(name, p) for p in sorted(found)]
        begins = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        held = sum(ends[tp] - begins[tp] for tp in partitions)
        metrics.TOPIC_RECORDS.labels(topic.name).set(held)


async def run_gauges(
    settings: Settings, endpoints: Endpoints, interval_s: float = INTERVAL_S
) -> None:
    """Refresh the gauges every ``interval_s`` until cancelled; a failed round is only logged
    (the projector goes on) and the database connection is opened again for the next one."""
    consumer = make_consumer(
        endpoints.kafka_bootstrap_servers,
        group_id=None,
        client_id="gauges",
        security=endpoints.kafka_security,
    )
    conn: asyncpg.Connection | None = None
    try:
        await consumer.start()
        while True:
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(plain_url(endpoints.database_url), timeout=10)
                await refresh_jobs(conn)
                await refresh_topics(consumer, settings)
            except Exception as exc:  # a dashboard gauge must never stop the projector
                log.warning("gauges not refreshed: %r", exc)
            await asyncio.sleep(interval_s)
    finally:
        await consumer.stop()
        if conn is not None:
            await conn.close()
