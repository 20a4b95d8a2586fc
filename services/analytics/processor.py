"""Per-minute analytics: a faust-streaming processor from ``video.jobs`` to ``video.analytics``.

Two agents, each with a changelog-backed table:

1. on ``video.jobs`` (keyed by job id): remembers each job's preset and owner (``job_info``)
   and turns submitted / completed / failed events into deltas for two windows, the job's
   preset and its user, sent to an internal topic keyed by window;
2. on that topic (so each window lives in one partition): adds the deltas to ``minutes``.

A timer publishes the windows that changed as ``MinuteAggregate`` records (same key per
window: the latest record is the current value) and, per preset only, as Prometheus metrics
(a label per user would grow without bound; per-user figures are on ``video.analytics``). Faust
is at-least-once: a crash between a table update and its offset commit may count an event twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from prometheus_client import Counter, Gauge

from schemas import groups
from schemas.analytics import MinuteAggregate
from schemas.envelope import DecodeError, Envelope, decode
from schemas.events import JobCompleted, JobFailed, JobSubmitted, ReprocessRequested
from schemas.options import PRESETS
from schemas.topics import ANALYTICS, DAY_MS, JOBS, Topic
from services.core.kafka.clients import ensure_topics
from services.core.kafka.security import KafkaSecurity
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints

log = logging.getLogger(__name__)

APP = groups.ANALYTICS.name
WINDOW_DELTAS = Topic(
    name=f"{APP}-window-deltas",
    partitions=JOBS.partitions,  # the `minutes` changelog must have as many partitions
    key="window key",
    description="Internal: per-window deltas, keyed so each window lives in one partition.",
    config={"cleanup.policy": "delete", "retention.ms": str(DAY_MS)},
)
FLUSH_SECONDS = 2.0
MEASURES = ("jobs_submitted", "jobs_completed", "jobs_failed", "processing_seconds",
            "bytes_in", "bytes_out")  # fmt: skip

CUSTOM = "custom"  # the preset of jobs submitted with explicit options
OTHER = "other"  # the metrics' label for a preset name this code does not ship

# Labels take bounded values only: preset names (PRESETS, CUSTOM, OTHER), never user ids.
JOBS_COUNTED = Counter(
    "vidpipe_analytics_jobs_total", "Jobs submitted/completed/failed, by preset.",
    ["preset", "event"],
)  # fmt: skip
LAST_MINUTE = Gauge(
    "vidpipe_analytics_minute",
    "Value of the most recently updated one-minute window of a preset (dimension='preset').",
    ["dimension", "value", "measure"],
)


def window_start(moment: datetime) -> datetime:
    """The minute ``moment`` falls in (UTC)."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def deltas(envelope: Envelope, info: dict[str, Any]) -> dict[str, float]:
    """What one event adds to its windows (empty when it does not count)."""
    event = envelope.event
    if isinstance(event, JobSubmitted):
        return {"jobs_submitted": 1, "bytes_in": event.source_size}
    if isinstance(event, JobCompleted):
        return {
            "jobs_completed": 1,
            "processing_seconds": event.duration_ms / 1000,
            "bytes_out": sum(o.size_bytes for o in event.outputs),
        }
    if isinstance(event, JobFailed):
        return {"jobs_failed": 1}
    return {}


def job_info(envelope: Envelope, known: dict[str, Any] | None) -> dict[str, Any] | None:
    """The preset and owner to remember for a job after this event (None: unchanged)."""
    event = envelope.event
    if isinstance(event, JobSubmitted):
        preset = str(event.processing_options.get("preset", CUSTOM))
        return {"preset": preset, "user": event.user_id}
    if isinstance(event, ReprocessRequested) and known is not None:
        return {**known, "preset": str(event.processing_options.get("preset", CUSTOM))}
    return None


def aggregate(key: str, totals: dict[str, Any]) -> MinuteAggregate:
    """The record value of one window's running totals."""
    start = datetime.fromisoformat(totals["window_start"])
    return MinuteAggregate(
        window_start=start,
        window_end=start + timedelta(minutes=1),
        dimension=totals["dimension"],
        dimension_value=totals["dimension_value"],
        **{m: totals.get(m, 0) for m in MEASURES},
    )


def broker_credentials(security: KafkaSecurity) -> faust.types.auth.CredentialsT | None:
    """faust's form of the Kafka security options (it gives them to every client it makes)."""
    if security.sasl:
        return faust.SASLCredentials(
            username=security.username,
            password=security.password,
            ssl_context=security.ssl_context(),
            mechanism=security.mechanism,
        )
    if security.tls:
        return faust.SSLCredentials(security.ssl_context())
    return None


def create_app(settings: Settings, endpoints: Endpoints) -> faust.App:
    """The faust app; its id (hence its internal topics) carries the topic prefix."""
    app = faust.App(
        settings.group(APP),
        broker=f"kafka://{endpoints.kafka_bootstrap_servers}",
        broker_credentials=broker_credentials(endpoints.kafka_security),
        store="memory://",  # tables are rebuilt from their changelog topics at start
        datadir=str(settings.data_dir / "analytics"),  # not ./analytics-data in the cwd
        topic_partitions=JOBS.partitions,
        topic_replication_factor=1,
        web_enabled=False,
        broker_session_timeout=10,
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(settings.topic(JOBS.name), key_serializer="raw", value_serializer="raw")
    windows = app.topic(settings.topic(WINDOW_DELTAS.name), value_serializer="json",
                        key_serializer="raw", partitions=WINDOW_DELTAS.partitions)  # fmt: skip
    sink = app.topic(settings.topic(ANALYTICS.name), key_serializer="raw", value_serializer="raw")
    infos = app.Table("job_info", default=None, partitions=JOBS.partitions)
    minutes = app.Table("minutes", default=None, partitions=JOBS.partitions)
    dirty: set[str] = set()

    @app.agent(source)
    async def per_job(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                envelope = decode(message.key, message.value, list(message.headers or ()))
            except DecodeError:
                continue  # the projector dead-letters it
            job = envelope.subject
            known = infos.get(job)
            info = job_info(envelope, known)
            if info is not None:
                infos[job] = known = info
            added = deltas(envelope, known or {})
            if not added or known is None:
                continue
            start = window_start(envelope.time).isoformat()
            for dimension in ("preset", "user"):
                key = f"{dimension}:{known[dimension]}:{start}"
                await windows.send(key=key.encode(), value={
                    "dimension": dimension, "dimension_value": known[dimension],
                    "window_start": start, "deltas": added,
                })  # fmt: skip
            for name in ("jobs_submitted", "jobs_completed", "jobs_failed"):
                if name in added:
                    JOBS_COUNTED.labels(
                        preset_label(known["preset"]), name.removeprefix("jobs_")
                    ).inc()

    @app.agent(windows)
    async def per_window(stream: Any) -> None:
        async for event in stream.events():
            key, delta = event.key.decode(), event.value
            totals = dict(minutes.get(key) or {k: delta[k] for k in delta if k != "deltas"})
            for measure, amount in delta["deltas"].items():
                totals[measure] = totals.get(measure, 0) + amount
            minutes[key] = totals
            dirty.add(key)

    @app.timer(interval=FLUSH_SECONDS)  # type: ignore[untyped-decorator]
    async def flush() -> None:
        keys = list(dirty)
        dirty.clear()
        for key in keys:
            record = aggregate(key, minutes[key]).to_record()
            await sink.send(key=record.key, value=record.value, headers=record.headers)
            expose(aggregate(key, minutes[key]))

    return app


def preset_label(preset: str) -> str:
    """The preset as a metric label: a shipped preset or ``custom`` as is, else ``other``."""
    return preset if preset in PRESETS or preset == CUSTOM else OTHER


def expose(value: MinuteAggregate) -> None:
    """Set the gauge from a window of a known preset; user windows and unknown presets are
    left to ``video.analytics`` (one series each would be unbounded, and summing them into one
    ``other`` series is not what a last-window gauge can show)."""
    if value.dimension != "preset" or preset_label(value.dimension_value) == OTHER:
        return
    for measure in MEASURES:
        LAST_MINUTE.labels(value.dimension, value.dimension_value, measure).set(
            getattr(value, measure)
        )


def changelogs(app: faust.App) -> list[Topic]:
    """The changelog topics of ``app``'s tables, as faust would declare them: compacted, with
    the table's partition count (its source topic's)."""
    return [
        Topic(
            name=table.changelog_topic_name,
            partitions=table.partitions or JOBS.partitions,
            key="table key",
            description=f"Internal: the changelog of the {name} table.",
            config={"cleanup.policy": "compact"},
        )
        for name, table in app.tables.items()
    ]


async def run_analytics(settings: Settings, endpoints: Endpoints) -> None:
    """Run the analytics app until cancelled."""
    app = create_app(settings, endpoints)
    # Its internal topics are created here, each partition with a leader, before the app
    # starts: on first send the broker's default partition count would not match, and a
    # changelog that faust creates itself may be in its consumer's first metadata with no
    # partitions, after which every write to the table fails (PartitionsMismatch).
    await ensure_topics(
        endpoints.kafka_bootstrap_servers,
        catalogue=[
            replace(WINDOW_DELTAS, name=settings.topic(WINDOW_DELTAS.name)),
            *changelogs(app),
        ],
        security=endpoints.kafka_security,
    )
    try:  # stopped even when cancelled while starting (joining its group, recovering tables)
        await app.start()
        log.info("analytics stream processor %s running", app.conf.id)
        await asyncio.Event().wait()
    finally:
        await app.stop()
