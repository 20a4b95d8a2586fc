"""Several projector members commit side by side: the tables equal one clean rebuild."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas.events import JobProgress
from services.core.kafka.clients import make_consumer
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints
from services.projector.bootstrap import connect
from services.projector.consumer import Batch, Projector
from services.projector.postgres import LIVE_TABLES, OffsetKey, ReadModelStore
from services.projector.projection import BatchOutcome
from services.projector.rebuild import rebuild
from tests.support.eventually import eventually
from tests.support.projector import (
    CatchUp,
    PublishEnvelopes,
    applied_total,
    checksums,
    projector_process,
)
from tests.support.stream import recorded_stream


@pytest.mark.slow
async def test_members_joining_and_leaving_equal_a_clean_rebuild(
    settings: Settings,
    endpoints: Endpoints,
    test_env: dict[str, str],
    publish_envelopes: PublishEnvelopes,
    catch_up: CatchUp,
    db_url: str,
) -> None:
    stream = recorded_stream(3000, seed="m")
    await publish_envelopes(stream)
    members = [await projector_process(test_env), await projector_process(test_env)]
    try:

        async def applied_past(share: float) -> bool:
            return await applied_total(db_url) > len(stream) * share

        await eventually(
            lambda: applied_past(0.2), timeout=60, message="a fifth applied by two members"
        )
        members.append(await projector_process(test_env))  # a rebalance mid-stream
        await eventually(lambda: applied_past(0.5), timeout=60, message="half applied")
        members[0].send_signal(signal.SIGTERM)  # and another one, as it leaves
        await catch_up()
    finally:
        for member in members:
            if member.returncode is None:
                member.terminate()
            await member.wait()
    together = await checksums(db_url)
    assert together["count"] == "3000"
    await rebuild(settings, endpoints)
    assert await checksums(db_url) == together


class HeldBeforeWrite(ReadModelStore):
    """The live store, held inside a commit after loading its rows, until ``go`` is set."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.holding = asyncio.Event()
        self.go = asyncio.Event()

    async def write(self, outcome: BatchOutcome, offsets: Mapping[OffsetKey, int]) -> None:
        self.holding.set()
        await self.go.wait()
        await super().write(outcome, offsets)


class Member:
    """One projector member: the real ``Projector`` commit path, fed the batches it fetches
    from the partitions of one topic (as an assignor may split the two topics)."""

    def __init__(self, consumer: AIOKafkaConsumer, store: ReadModelStore) -> None:
        self.consumer = consumer
        self.projector = Projector(consumer, store, None)

    @classmethod
    async def start(cls, bootstrap: str, topic: str, store: ReadModelStore) -> Member:
        consumer = make_consumer(bootstrap, group_id=None)
        await consumer.start()
        await store.prepare()
        partitions = [TopicPartition(topic, p) for p in await _partitions(consumer, topic)]
        consumer.assign(partitions)
        member = cls(consumer, store)
        await member.projector.seek_to_stored(partitions)
        return member

    async def fetch(self, count: int) -> Batch:
        """The next ``count`` records, as one batch."""
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}

        async def fetched() -> bool:
            for tp, records in (await self.consumer.getmany(timeout_ms=200)).items():
                batch.setdefault(tp, []).extend(records)
            return sum(map(len, batch.values())) >= count

        await eventually(fetched, timeout=20, message=f"{count} records")
        return batch


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    async def known() -> set[int] | None:
        if not consumer.partitions_for_topic(topic):
            await consumer._client.force_metadata_update()
        return consumer.partitions_for_topic(topic)  # type: ignore[no-any-return]

    return sorted(await eventually(known, timeout=20, message=f"partitions of {topic}"))


async def test_a_commit_waits_for_the_rows_another_commit_loaded(
    settings: Settings,
    endpoints: Endpoints,
    publish_envelopes: PublishEnvelopes,
    db_url: str,
) -> None:
    """Ticks and lifecycle events of a job live on two topics whose partitions an assignor may
    give to different members: a member that loaded a job's row must be the only one to
    change it until it commits, or it writes back a stale row over the other's change."""
    stream = recorded_stream(1, seed="w")  # submitted, started, tick, stage, completed
    lifecycle = [e for e in stream if e.type != JobProgress.type]
    ticks = [e for e in stream if e.type == JobProgress.type]
    job_id = lifecycle[0].subject
    group = settings.group("projector")
    bootstrap = endpoints.kafka_bootstrap_servers
    await publish_envelopes(lifecycle[:2] + ticks)  # the topics exist before members assign
    conns = [await connect(endpoints.database_url) for _ in range(3)]
    members: list[Member] = []
    try:
        ticking_store = HeldBeforeWrite(conns[0], LIVE_TABLES, group)
        ticking = await Member.start(bootstrap, settings.topic("video.progress"), ticking_store)
        members.append(ticking)
        finishing_store = ReadModelStore(conns[1], LIVE_TABLES, group)
        finishing = await Member.start(bootstrap, settings.topic("video.jobs"), finishing_store)
        members.append(finishing)
        await finishing.projector.handle(await finishing.fetch(2))  # submitted and started
        await publish_envelopes(lifecycle[2:])

        async def finisher_waits_for_a_lock() -> bool:
            pid = conns[1].get_server_pid()
            waiting = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1"
            return bool(await conns[2].fetchval(waiting, pid) == "Lock")

        tick = asyncio.create_task(ticking.projector.handle(await ticking.fetch(len(ticks))))
        await eventually(
            _set(ticking_store.holding), timeout=10, message="the ticking member mid-commit"
        )
        finish = asyncio.create_task(finishing.projector.handle(await finishing.fetch(2)))
        await eventually(finisher_waits_for_a_lock, timeout=10, message="the other commit to wait")
        ticking_store.go.set()
        outcomes = await asyncio.gather(tick, finish)
        row = await conns[2].fetchrow("SELECT status, progress FROM jobs WHERE id = $1", job_id)
    finally:
        for member in members:
            await member.consumer.stop()
        for conn in conns:
            await conn.close()
    assert all(outcome is not None for outcome in outcomes), "a batch was fenced"
    assert (row["status"], row["progress"]) == ("completed", 100)


def _set(event: asyncio.Event) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return event.is_set()

    return check
