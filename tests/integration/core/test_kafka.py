"""Kafka helpers against the real broker: topic creation and a publish/consume round trip."""

from __future__ import annotations

import asyncio
import gc
import uuid
import warnings
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from schemas.envelope import decode, new_envelope
from schemas.events import JobStarted, JobSubmitted
from schemas.topics import CATALOGUE, JOBS
from services.core.kafka.clients import KafkaEventPublisher, ensure_topics, make_consumer
from tests.support.eventually import eventually
from tests.support.infra import Infra


async def test_topics_are_created_once_with_catalogue_partitions(infra: Infra) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    first = await ensure_topics(infra.bootstrap_servers, topic_prefix=prefix)
    assert sorted(first) == sorted(prefix + t.name for t in CATALOGUE)
    assert await ensure_topics(infra.bootstrap_servers, topic_prefix=prefix) == []
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics([prefix + t.name for t in CATALOGUE])
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    assert partitions == {prefix + t.name: t.partitions for t in CATALOGUE}


async def test_published_events_come_back_decoded_in_order(infra: Infra, topic_prefix: str) -> None:
    publisher = KafkaEventPublisher(infra.bootstrap_servers, topic_prefix=topic_prefix)
    await publisher.start()
    job_id = str(uuid.uuid4())
    submitted = JobSubmitted(
        job_id=job_id,
        user_id="u1",
        original_filename="a.mp4",
        source_key=f"sources/{job_id}/source",
        source_size=10,
        source_sha256="0" * 64,
    )
    started = JobStarted(job_id=job_id, worker_id="w1", attempt=1)
    try:
        positions = await publisher.publish_many(
            [new_envelope(e, source="/test", correlation_id="corr-1") for e in (submitted, started)]
        )
    finally:
        await publisher.stop()
    assert positions[0][0] == positions[1][0], "one job's events share a partition"
    assert positions[1][1] == positions[0][1] + 1

    consumer = make_consumer(
        infra.bootstrap_servers, topic_prefix + JOBS.name, group_id=f"g-{uuid.uuid4().hex}"
    )
    await consumer.start()
    received = []

    async def both() -> bool:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            for r in records:
                envelope = decode(r.key, r.value, r.headers, partition=r.partition, offset=r.offset)
                received.append((envelope, dict(r.headers)))
        return len(received) >= 2

    try:
        await eventually(both, timeout=20, message="both events")
    finally:
        await consumer.stop()
    assert [env.event for env, _ in received] == [submitted, started]
    envelope, headers = received[0]
    assert headers["ce_type"] == b"video.job.submitted"
    assert headers["ce_subject"] == job_id.encode()
    assert headers["correlation_id"] == b"corr-1"
    assert envelope.correlation_id == "corr-1"
    assert envelope.offset == positions[0][1]


class HoldingProxy:
    """A loopback TCP proxy to the broker that holds its answers after the first until told.

    The first exchange on a connection is aiokafka's ApiVersions handshake, the second the
    bootstrap's metadata request: ``second_request`` is set when that one is sent.
    """

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.second_request = asyncio.Event()
        self.release = asyncio.Event()
        self.open = 0  # client connections not yet closed by the client
        self.all_closed = asyncio.Condition()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await asyncio.wait_for(asyncio.gather(*self.handlers), 10)

    async def wait_all_closed(self, timeout_s: float) -> None:
        async with self.all_closed:
            await asyncio.wait_for(self.all_closed.wait_for(lambda: self.open == 0), timeout_s)

    @staticmethod
    async def frames(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        """Kafka's size-prefixed frames until the peer closes."""
        while True:
            try:
                size = await reader.readexactly(4)
                yield size + await reader.readexactly(int.from_bytes(size, "big"))
            except asyncio.IncompleteReadError:
                return

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        self.open += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.writers += [writer, up_writer]

        async def upstream() -> None:
            sent = 0
            async for frame in self.frames(reader):
                up_writer.write(frame)
                sent += 1
                if sent == 2:
                    self.second_request.set()
            up_writer.close()  # and so the broker closes its end too
            async with self.all_closed:  # the client closed its end
                self.open -= 1
                self.all_closed.notify_all()

        async def downstream() -> None:
            answered = 0
            async for frame in self.frames(up_reader):
                if answered:
                    await self.release.wait()
                writer.write(frame)
                answered += 1

        try:
            await asyncio.gather(upstream(), downstream())
        except OSError:
            pass
        finally:
            writer.close()
            up_writer.close()


async def test_cancelled_while_bootstrapping_closes_its_connection(infra: Infra) -> None:
    """SIGTERM while ``up`` creates topics: the bootstrap connection is closed, not dropped.

    aiokafka drops its bootstrap connection unclosed when cancelled while waiting for the
    metadata answer, and the connection's finaliser reports "Unclosed AIOKafkaConnection"
    (what ``up`` printed at SIGTERM). The proxy holds that answer until the task has been
    cancelled, so the cancellation always lands in that window.
    """
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
    proxy = HoldingProxy(infra.bootstrap_servers)
    try:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            async with proxy as address:
                task = asyncio.create_task(
                    ensure_topics(address, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
                )
                await asyncio.wait_for(proxy.second_request.wait(), 10)
                task.cancel()
                proxy.release.set()
                with pytest.raises(asyncio.CancelledError):
                    await asyncio.wait_for(task, 10)
                await proxy.wait_all_closed(10)
            gc.collect()
    finally:
        loop.set_exception_handler(previous)
    reported += [str(w.message) for w in warned]
    assert not [m for m in reported if "Unclosed" in m], reported
