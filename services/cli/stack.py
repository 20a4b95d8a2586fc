"""``vidpipe up``: the whole system on one machine, embedded components by default.

Takes the data dir's lock (one ``up`` per data dir), starts PostgreSQL and Apache Kafka
unless ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` name external ones (both keep their
data under the data dir, so a restart finds every event and row), prepares storage,
migrations and topics, then runs every service as a child process (how production runs
them; ``services.cli.children``), waits for each to be healthy, and restarts one that dies.
SIGINT/SIGTERM at any moment, start-up included, stop everything in reverse order: children
get SIGTERM and are killed after ``SHUTDOWN_GRACE_S`` (then ``up`` exits 1). Children also get
SIGTERM from the kernel if ``up`` itself dies, so nothing is orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from services.cli.broker import KAFKA_VERSION
from services.cli.children import READY_TIMEOUT_S, ChildFailed, Children
from services.cli.datadir import DataDirInUse, DataDirLock
from services.cli.embedded import EmbeddedBroker, EmbeddedPostgres, port_is_free
from services.core.db.engine import check_database, migrate, redact
from services.core.kafka.clients import ensure_topics, wait_for_broker
from services.core.kafka.security import PLAINTEXT
from services.core.runtime.declare import read_env
from services.core.runtime.process import free_port
from services.core.runtime.settings import ConfigError, Settings
from services.core.stack.discovery import STACK_FILE, Endpoints, write_stack_file
from services.core.storage import keys, open_store
from services.notifier import settings as notifier_settings
from services.transcoder import settings as transcoder_settings

T = TypeVar("T")

DEFAULT_BROKER_PORT = 9092
# Beyond the transcoder's own grace for in-flight jobs (30 s), so a clean stop is not killed.
SHUTDOWN_GRACE_S = 35.0


def say(component: str, address: str) -> None:
    print(f"{component:<11} {address}", flush=True)


@dataclass
class Stack:
    """What ``up`` started, so it can stop exactly that."""

    settings: Settings
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    children: Children | None = None
    endpoints: Endpoints | None = None

    async def start_infrastructure(self) -> Endpoints:
        settings = self.settings
        embedded_kafka = settings.kafka_bootstrap_servers is None
        if embedded_kafka and settings.kafka_security_protocol != "PLAINTEXT":
            raise ConfigError(
                "KAFKA_SECURITY_PROTOCOL",
                f"is {settings.kafka_security_protocol}, but the embedded broker of "
                "`vidpipe up` speaks PLAINTEXT on loopback: set KAFKA_BOOTSTRAP_SERVERS "
                "to a broker with SASL (docs/kafka.md#sasl)",
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.database_url is None:
            self.postgres = EmbeddedPostgres(settings.data_dir / "pg")
            database_url = await finish_in_thread(self.postgres.start)
            say("postgres", f"{database_url} (embedded, data in {self.postgres.pgdata})")
        else:
            database_url = settings.database_url
            await check_database(database_url)
            say("postgres", redact(database_url))
        if settings.kafka_bootstrap_servers is None:
            security = PLAINTEXT
            port = DEFAULT_BROKER_PORT if port_is_free(DEFAULT_BROKER_PORT) else free_port()
            broker = self.broker = EmbeddedBroker(
                port,
                settings.data_dir / "kafka",
                log_path=settings.data_dir / "logs" / "broker.log",
                retry_ports=True,  # a port taken before the broker binds it: another one
            )
            bootstrap = await finish_in_thread(broker.start, on_cancel=broker.abort)
            await wait_for_broker(bootstrap, 30, security=security)
            say(
                "kafka",
                f"{bootstrap} (embedded Apache Kafka {KAFKA_VERSION}, KRaft, "
                f"log in {self.broker.log_dir})",
            )
        else:
            bootstrap = settings.kafka_bootstrap_servers
            security = settings.kafka_security()
            await wait_for_broker(bootstrap, 15, security=security)
            say("kafka", bootstrap)
        store = open_store(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
        try:
            await store.list(keys.SOURCES)  # proves the store is reachable before anything uses it
        finally:
            store.close()
        say("storage", settings.storage_url)
        await finish_in_thread(lambda: migrate(database_url))
        say("migrations", "at head")
        created = await ensure_topics(
            bootstrap, topic_prefix=settings.topic_prefix, security=security
        )
        say("topics", f"ready ({len(created)} created)")
        self.endpoints = Endpoints(
            database_url=database_url, kafka_bootstrap_servers=bootstrap, kafka_security=security
        )
        write_stack_file(settings.data_dir, self.endpoints)
        return self.endpoints

    async def start_services(self, endpoints: Endpoints) -> Children:
        """Start every service, wait until each answers ``/health``, print where."""
        children = self.children = Children(self.settings, endpoints)
        for child in children.children:
            children.spawn(child)
        deadline = time.monotonic() + READY_TIMEOUT_S
        for child in children.children:
            url = await children.wait_ready(child, deadline)
            for component in child.shows:
                say(component, url)
        self.write_status()
        return children

    def write_status(self) -> None:
        """``stack.json``: the endpoints, the public port, each child's pid, port and restarts."""
        if self.endpoints is None or self.children is None:
            return
        status = self.children.status()
        public = status.get("web", {}).get("port") or self.settings.port
        write_stack_file(self.settings.data_dir, self.endpoints, port=public, services=status)

    def stop(self) -> bool:
        """Stop what was started, in reverse order; whether a child had to be killed."""
        killed = self.children.stop(SHUTDOWN_GRACE_S) if self.children else False
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
        (self.settings.data_dir / STACK_FILE).unlink(missing_ok=True)
        return killed


async def finish_in_thread(fn: Callable[[], T], on_cancel: Callable[[], None] | None = None) -> T:
    """``fn()`` in a thread. Cancelled meanwhile (SIGTERM), it calls ``on_cancel`` (to make
    ``fn`` quick) and lets ``fn`` return before re-raising, so what ``fn`` started is known
    and can be stopped."""
    future = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if on_cancel is not None:
            on_cancel()
        with contextlib.suppress(Exception):
            await future
        raise


class SignalStop:
    """SIGINT/SIGTERM cancel ``task`` once, until ``disarm()`` (then they are ignored)."""

    def __init__(self, task: asyncio.Task[object]) -> None:
        self.task = task
        self.received = False
        self.armed = True

    def __call__(self) -> None:
        if self.armed and not self.received:
            self.received = True
            self.task.cancel()

    def disarm(self) -> None:
        self.armed = False


@contextlib.contextmanager
def cancelled_by_signals() -> Iterator[SignalStop]:
    """Within the block, SIGINT/SIGTERM cancel the current task (once)."""
    task = asyncio.current_task()
    assert task is not None
    handler = SignalStop(task)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handler)
    try:
        yield handler
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def up(settings: Settings) -> int:
    """Run the stack until SIGINT/SIGTERM; return the process exit code."""
    started = time.monotonic()
    # the children's own settings too: a bad one stops `up` here (ConfigError), not a child later
    read_env((*notifier_settings.DECLARED, *transcoder_settings.DECLARED), os.environ)
    lock = DataDirLock(settings.data_dir)
    stack = Stack(settings)
    with cancelled_by_signals() as signals:
        try:
            lock.acquire()
        except DataDirInUse as exc:
            print(f"vidpipe: {exc}", file=sys.stderr, flush=True)
            return 1
        try:
            code = await _run(stack, started)
        except asyncio.CancelledError:
            if not signals.received:
                raise
            code = 0  # a requested stop
        except ChildFailed as exc:
            print(f"vidpipe: {exc}", flush=True)
            code = 1
        finally:
            signals.disarm()  # from now on SIGINT/SIGTERM are ignored: this stop is bounded
            killed = await finish_in_thread(stack.stop)
            lock.release()
            print("vidpipe stopped", flush=True)
    return 1 if killed else code


async def _run(stack: Stack, started: float) -> int:
    endpoints = await stack.start_infrastructure()
    children = await stack.start_services(endpoints)
    print(f"vidpipe is up in {time.monotonic() - started:.1f}s; Ctrl-C stops it", flush=True)
    return await children.supervise(stack.write_status)
