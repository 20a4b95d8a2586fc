"""The faust analytics processor: per-minute aggregates on video.analytics, and `vidpipe tap`."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from schemas.analytics import MinuteAggregate
from schemas.events import JobCompleted, JobFailed, JobSubmitted
from services.analytics.processor import run_analytics
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints
from tests.support.cli import vidpipe
from tests.support.eventually import eventually
from tests.support.infra import Infra
from tests.support.projector import PublishEnvelopes
from tests.support.stream import recorded_stream


async def test_minute_aggregates_per_preset_and_user(
    infra: Infra,
    settings: Settings,
    endpoints: Endpoints,
    publish_envelopes: PublishEnvelopes,
    test_env: dict[str, str],
) -> None:
    stream = recorded_stream(20, seed="a")
    await publish_envelopes(stream)
    expected: dict[str, dict[str, float]] = {}
    preset_of = {}
    for e in stream:
        if isinstance(e.event, JobSubmitted):
            preset_of[e.subject] = e.event.processing_options["preset"]
    for e in stream:  # p9 is the reprocessed jobs' new preset: their completions count there
        if e.event.type.endswith("reprocess_requested"):
            preset_of[e.subject] = "p9"
        totals = expected.setdefault(preset_of[e.subject], {"submitted": 0, "completed": 0})
        if isinstance(e.event, JobSubmitted):
            totals["submitted"] += 1
        elif isinstance(e.event, JobCompleted):
            totals["completed"] += 1
    latest: dict[str, MinuteAggregate] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap_servers, group_id=None)
    task = asyncio.create_task(run_analytics(settings, endpoints))
    await consumer.start()
    try:
        tp = TopicPartition(settings.topic("video.analytics"), 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)

        async def complete() -> bool:
            if task.done():
                task.result()
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    value = MinuteAggregate.from_record(r.value)
                    latest[value.key] = value
            got = {
                a.dimension_value: {"submitted": a.jobs_submitted, "completed": a.jobs_completed}
                for a in latest.values()
                if a.dimension == "preset"
            }
            # The two dimensions' windows are separate keys (and partitions): wait for both.
            per_user = sum(a.jobs_submitted for a in latest.values() if a.dimension == "user")
            return got == expected and per_user == 20

        await eventually(complete, timeout=90, message="aggregates per preset and per user")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
    users = [a for a in latest.values() if a.dimension == "user"]
    assert sum(a.jobs_submitted for a in users) == 20
    assert sum(a.bytes_in for a in users) == sum(
        e.event.source_size for e in stream if isinstance(e.event, JobSubmitted)
    )
    failed = sum(1 for e in stream if isinstance(e.event, JobFailed))
    assert sum(a.jobs_failed for a in users) == failed
    # Metrics carry no unbounded labels: no user ids, and the stream's made-up presets
    # (p0, p1, p9) are counted as "other" and kept out of the last-window gauge.
    assert REGISTRY.get_sample_value(
        "vidpipe_analytics_jobs_total", {"preset": "other", "event": "submitted"}
    ) == sum(1 for e in stream if isinstance(e.event, JobSubmitted))
    labels = [
        sample.labels
        for metric in REGISTRY.collect()
        if metric.name.startswith("vidpipe_analytics")
        for sample in metric.samples
    ]
    assert labels and not [x for x in labels if x.get("dimension") == "user"]
    assert not [x for x in labels if x.get("value", x.get("preset")) in {"p0", "p1", "p9"}]
    tapped = vidpipe("tap", "video.analytics", "--from-beginning", "--max", "1", env=test_env)
    assert tapped.returncode == 0, tapped.stderr
    assert "dimension" in json.loads(tapped.stdout)["value"]
