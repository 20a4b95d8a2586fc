"""The live projector against the real broker and PostgreSQL: rows, duplicates, offsets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from schemas.envelope import Envelope, KafkaRecord, encode, format_time
from schemas.events import (
    JobProgress,
    JobStarted,
    JobSubmitted,
    ReprocessRequested,
    StageCompleted,
)
from services.core.db.engine import plain_url
from services.core.db.readmodel import APPLIED_CHANNEL
from services.core.domain.jobstate import IllegalTransition, JobState, apply
from services.core.kafka.clients import KafkaEventPublisher
from services.core.runtime.settings import Settings
from tests.support.eventually import eventually
from tests.support.infra import Infra
from tests.support.projector import CatchUp, PublishEnvelopes, Running, checksums, fetch_jobs
from tests.support.stream import EXPECTED_STATUS, job_uuid, kind_of, recorded_stream, user_uuid

JOBS = 21


async def test_recorded_stream_gives_expected_rows(
    publish_envelopes: PublishEnvelopes, running_projector: Running, catch_up: CatchUp, db_url: str
) -> None:
    stream = recorded_stream(JOBS)
    await publish_envelopes(stream)
    async with running_projector():
        await catch_up()
    rows = await fetch_jobs(db_url)
    assert len(rows) == JOBS
    for n in range(JOBS):
        row, kind = rows[job_uuid("s", n)], kind_of(n)
        assert row["status"] == EXPECTED_STATUS[kind], (n, kind)
        assert str(row["user_id"]) == user_uuid(n)
        assert row["original_filename"] == f"clip-{n}.mp4"
        assert row["source_size"] == 1000 * n
        metadata = json.loads(row["metadata"])
        assert metadata["width"] == 1280
        if row["status"] == "completed":
            assert row["progress"] == 100
            assert json.loads(row["outputs"])[0]["name"] == "720p"
            assert metadata["fps"] == 30.0  # completed.metadata merged over source metadata
            assert row["completed_at"] is not None and row["started_at"] is not None
        assert (row["deleted_at"] is not None) == (kind == "deleted")
        assert row["attempts"] == {"retried": 2, "pending": 0, "cancelled": 0}.get(kind, 1)
        assert row["event_count"] == sum(
            1 for e in stream if e.subject == str(row["id"]) and e.type != JobProgress.type
        )
    first = next(e for e in stream if e.subject == job_uuid("s", 0))
    assert rows[job_uuid("s", 0)]["created_at"] == first.time
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        history = await conn.fetch(
            "SELECT operation, status, attempt FROM processing_history WHERE job_id=$1 "
            "ORDER BY created_at",
            job_uuid("s", 1),  # the retried job
        )
    finally:
        await conn.close()
    assert [(h["operation"], h["attempt"]) for h in history] == [
        ("started", 1),
        ("transcode", 1),
        ("retry_scheduled", 2),
        ("started", 2),
        ("transcode", 2),
        ("completed", 2),
    ]


async def test_twice_and_duplicates_give_identical_tables(
    infra: Infra,
    settings: Settings,
    publish_envelopes: PublishEnvelopes,
    running_projector: Running,
    catch_up: CatchUp,
    db_url: str,
) -> None:
    stream = recorded_stream(JOBS)
    await publish_envelopes(stream)
    async with running_projector():
        await catch_up()
    once = await checksums(db_url)
    # The same events again (producer retries): same ce_id, new offsets. Among them, events the
    # state machine would accept again (a reprocess of a completed job): only the id check stops
    # those, where it refuses most duplicates (a second submitted, a start of a completed job).
    again = accepted_again(stream)
    assert {e.type for e in again} == {ReprocessRequested.type}
    await publish_envelopes(again + stream[::3])
    async with running_projector():
        await catch_up()
    assert await checksums(db_url) == once, "a duplicate changed the read model"
    # Projecting everything twice: reset the stored offsets to 0, nothing may change.
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        await conn.execute("UPDATE projector_offsets SET next_offset = 0")
    finally:
        await conn.close()
    async with running_projector():
        await catch_up()
    assert await checksums(db_url) == once


def accepted_again(stream: list[Envelope]) -> list[Envelope]:
    """The events of ``stream`` that their job's final state would accept a second time."""
    final: dict[str, JobState] = {}
    for envelope in stream:
        with contextlib.suppress(IllegalTransition):
            final[envelope.subject] = apply(final.get(envelope.subject), envelope.event)
    again = []
    for envelope in stream:
        with contextlib.suppress(IllegalTransition):
            apply(final[envelope.subject], envelope.event)
            again.append(envelope)
    return again


async def test_skips_illegal_and_unknown_dead_letters_undecodable(
    infra: Infra,
    settings: Settings,
    publish_envelopes: PublishEnvelopes,
    running_projector: Running,
    catch_up: CatchUp,
    db_url: str,
) -> None:
    job = str(uuid.uuid4())
    stream = recorded_stream(3, seed="x")
    await publish_envelopes(
        [
            *stream,
            Envelope(event=JobStarted(job_id=job, worker_id="w", attempt=1), source="/t"),
            Envelope(
                event=JobStarted(job_id=stream[0].subject, worker_id="w", attempt=9), source="/t"
            ),
        ]
    )
    bad = KafkaRecord(
        topic="video.jobs",
        key=b"k",
        value=b"{not json",
        headers=[
            ("ce_specversion", b"1.0"),
            ("ce_id", b"1"),
            ("ce_type", JobSubmitted.type.encode()),
            ("ce_source", b"/t"),
            ("ce_time", format_time(stream[0].time).encode()),
        ],
    )
    publisher = KafkaEventPublisher(infra.bootstrap_servers, topic_prefix=settings.topic_prefix)
    await publisher.start()
    try:
        await publisher.send_record(bad)
        await publisher.publish(
            Envelope(  # a job id the read model cannot key
                event=JobProgress(job_id="not-a-uuid", attempt=1, progress=1, stage="x"),
                source="/t",
            )
        )
    finally:
        await publisher.stop()
    async with running_projector():
        await catch_up()
    assert len(await fetch_jobs(db_url)) == 3
    dlq = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap_servers, group_id=None)
    await dlq.start()
    try:
        tp = TopicPartition(settings.topic("video.jobs.dlq"), 0)
        dlq.assign([tp])
        await dlq.seek_to_beginning(tp)
        records = (await dlq.getmany(tp, timeout_ms=5000, max_records=10))[tp]
    finally:
        await dlq.stop()
    reasons = sorted(dict(r.headers)["dlq_reason"] for r in records)
    assert reasons == [b"bad_json", b"invalid_data"]


async def test_conflicting_history_falls_back_to_upserts(
    publish_envelopes: PublishEnvelopes, running_projector: Running, catch_up: CatchUp, db_url: str
) -> None:
    """Event ids sharing their first 64 characters collide on ``history.event_id``: the
    batch is written with ``ON CONFLICT DO NOTHING`` as before, not refused."""
    job, long_id = str(uuid.uuid4()), "e" * 64
    submitted = JobSubmitted(
        job_id=job,
        user_id=str(uuid.uuid4()),
        original_filename="a.mp4",
        source_key=f"sources/{job}/a.mp4",
        source_size=1,
        source_sha256="0" * 64,
    )
    await publish_envelopes(
        [
            Envelope(event=submitted, source="/t"),
            Envelope(
                event=JobStarted(job_id=job, worker_id="w", attempt=1),
                source="/t",
                id=f"{long_id}-a",
            ),
            Envelope(
                event=StageCompleted(
                    job_id=job, worker_id="w", attempt=1, operation="x", status="ok", duration_ms=1
                ),
                source="/t",
                id=f"{long_id}-b",
            ),
        ]
    )
    async with running_projector():
        await catch_up()
    row = (await fetch_jobs(db_url))[job]
    assert (row["status"], row["event_count"]) == ("processing", 3)
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        history = await conn.fetch("SELECT operation FROM processing_history WHERE job_id=$1", job)
    finally:
        await conn.close()
    assert [h["operation"] for h in history] == ["started"]


async def test_upcasts_v1_submitted(
    infra: Infra, settings: Settings, running_projector: Running, catch_up: CatchUp, db_url: str
) -> None:
    job, user = str(uuid.uuid4()), str(uuid.uuid4())
    v1 = {
        "job_id": job,
        "user_id": user,
        "original_filename": "old.avi",
        "file_path": f"sources/{job}/old.avi",
        "options": {"preset": "legacy"},
    }
    record = encode(
        Envelope(
            event=JobSubmitted(
                job_id=job,
                user_id=user,
                original_filename="x",
                source_key="x",
                source_size=0,
                source_sha256="",
            ),
            source="/t",
        )
    )
    headers = [(k, b"1" if k == "ce_schemaversion" else v) for k, v in record.headers]
    publisher = KafkaEventPublisher(infra.bootstrap_servers, topic_prefix=settings.topic_prefix)
    await publisher.start()
    try:
        await publisher.send_record(
            KafkaRecord(
                topic="video.jobs", key=job.encode(), value=json.dumps(v1).encode(), headers=headers
            )
        )
    finally:
        await publisher.stop()
    async with running_projector():
        await catch_up()
    row = (await fetch_jobs(db_url))[job]
    assert row["file_path"] == f"sources/{job}/old.avi"
    assert json.loads(row["processing_options"]) == {"preset": "legacy"}
    assert row["source_sha256"] == "" and row["source_size"] == 0


async def test_notifies_applied_offsets(
    settings: Settings, publish_envelopes: PublishEnvelopes, running_projector: Running, db_url: str
) -> None:
    conn = await asyncpg.connect(plain_url(db_url))
    woken: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(APPLIED_CHANNEL, lambda *args: woken.put_nowait(args[3]))
    try:
        async with running_projector():
            stream = recorded_stream(1, seed="n")
            await publish_envelopes(stream[:1])
            group = await asyncio.wait_for(woken.get(), 30)
            assert group == settings.group("projector")
            offsets = await conn.fetch("SELECT * FROM projector_offsets WHERE next_offset > 0")
            assert len(offsets) == 1  # the partition of the job, visible at the notify
            row = await conn.fetchrow("SELECT status FROM jobs WHERE id=$1", stream[0].subject)
            assert row is not None and row["status"] == "pending"
    finally:
        await conn.close()


async def test_progress_is_coalesced(
    infra: Infra,
    settings: Settings,
    publish_envelopes: PublishEnvelopes,
    running_projector: Running,
    catch_up: CatchUp,
    db_url: str,
) -> None:
    stream = recorded_stream(1, seed="p")
    job = stream[0].subject
    await publish_envelopes(stream[:2])  # submitted, started
    async with running_projector():
        await catch_up()
    # published while no projector runs: the next one fetches all four ticks in one batch
    await publish_envelopes(
        [
            Envelope(event=JobProgress(job_id=job, attempt=1, progress=p, stage="t"), source="/t")
            for p in (10, 30, 20, 25)
        ]
    )
    before = _tick_counters()

    async def ticks_counted() -> bool:  # the metrics follow the commit catch_up waits for
        return sum(_tick_counters()) - sum(before) >= 4

    async with running_projector():
        await catch_up()
        await eventually(ticks_counted, timeout=10, message="the four ticks in the metrics")
    assert (await fetch_jobs(db_url))[job]["progress"] == 30
    # the final value alone cannot tell: progress never goes backwards, coalesced or not
    applied, coalesced = _tick_counters()
    assert (applied - before[0], coalesced - before[1]) == (1, 3)


def _tick_counters() -> tuple[float, float]:
    """Progress ticks the in-process projector applied, and folded into another (its metrics)."""
    sample = REGISTRY.get_sample_value
    applied = sample("vidpipe_projector_events_applied_total", {"type": JobProgress.type})
    return applied or 0.0, sample("vidpipe_projector_progress_coalesced_total") or 0.0


async def test_nan_in_metadata_does_not_wedge_the_projector(
    infra: Infra, settings: Settings, running_projector: Running, catch_up: CatchUp, db_url: str
) -> None:
    """A foreign producer's NaN (valid for Python's json, not for jsonb) becomes null."""
    poisoned, after = str(uuid.uuid4()), str(uuid.uuid4())
    records = []
    for job, metadata in ((poisoned, {"fps": float("nan"), "ratio": float("inf")}), (after, {})):
        record = encode(
            Envelope(
                event=JobSubmitted(
                    job_id=job,
                    user_id=str(uuid.uuid4()),
                    original_filename="n.mp4",
                    source_key="k",
                    source_size=1,
                    source_sha256="",
                ),
                source="/t",
            )
        )
        value = json.loads(record.value)
        value["source_metadata"] = metadata
        records.append(
            KafkaRecord(
                topic=record.topic,
                key=record.key,
                value=json.dumps(value).encode(),
                headers=record.headers,
            )
        )
    assert b"NaN" in records[0].value
    publisher = KafkaEventPublisher(infra.bootstrap_servers, topic_prefix=settings.topic_prefix)
    await publisher.start()
    try:
        for record in records:
            await publisher.send_record(record)
    finally:
        await publisher.stop()
    async with running_projector():
        await catch_up()
    rows = await fetch_jobs(db_url)
    assert json.loads(rows[poisoned]["metadata"]) == {"fps": None, "ratio": None}
    assert after in rows, "the events after it were applied"
