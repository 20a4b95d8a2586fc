"""``vidpipe up``: the whole system on one machine, embedded components by default.

Takes the data dir's lock (one ``up`` per data dir), starts PostgreSQL and Apache Kafka
unless ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` name external ones (both keep their
data under the data dir, so a restart finds every event and row), prepares storage,
migrations and topics, then runs every service that exists as a child process (how
production runs them) and waits for each to be healthy. SIGINT/SIGTERM stop everything in
reverse order; children also get SIGTERM from the kernel if ``up`` itself dies, so nothing
is orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from services.cli.broker import KAFKA_VERSION
from services.cli.datadir import DataDirInUse, DataDirLock
from services.cli.embedded import EmbeddedBroker, EmbeddedPostgres, child_env, port_is_free
from services.cli.registry import SERVICES
from services.core.config import Settings
from services.core.db import check_database, migrate, redact
from services.core.endpoints import STACK_FILE, Endpoints, write_stack_file
from services.core.kafka import ensure_topics, wait_for_broker
from services.core.process import die_with_parent, free_port
from services.core.storage import keys, open_store

DEFAULT_BROKER_PORT = 9092
SHUTDOWN_GRACE_S = 30.0


def say(component: str, address: str) -> None:
    print(f"{component:<11} {address}", flush=True)


@dataclass
class Stack:
    """What ``up`` started, so it can stop exactly that."""

    settings: Settings
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    public_names: list[str] = field(default_factory=list)

    async def start_infrastructure(self) -> Endpoints:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.database_url is None:
            self.postgres = EmbeddedPostgres(settings.data_dir / "pg")
            database_url = await asyncio.to_thread(self.postgres.start)
            say("postgres", f"{database_url} (embedded, data in {self.postgres.pgdata})")
        else:
            database_url = settings.database_url
            await check_database(database_url)
            say("postgres", redact(database_url))
        if settings.kafka_bootstrap_servers is None:
            port = DEFAULT_BROKER_PORT if port_is_free(DEFAULT_BROKER_PORT) else free_port()
            self.broker = EmbeddedBroker(
                port,
                settings.data_dir / "kafka",
                log_path=settings.data_dir / "logs" / "broker.log",
            )
            bootstrap = await asyncio.to_thread(self.broker.start)
            await wait_for_broker(bootstrap, 30)
            say(
                "kafka",
                f"{bootstrap} (embedded Apache Kafka {KAFKA_VERSION}, KRaft, "
                f"log in {self.broker.log_dir})",
            )
        else:
            bootstrap = settings.kafka_bootstrap_servers
            await wait_for_broker(bootstrap, 15)
            say("kafka", bootstrap)
        store = open_store(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
        try:
            await store.list(keys.SOURCES)  # proves the store is reachable before anything uses it
        finally:
            store.close()
        say("storage", settings.storage_url)
        await asyncio.to_thread(migrate, database_url)
        say("migrations", "at head")
        created = await ensure_topics(bootstrap, topic_prefix=settings.topic_prefix)
        say("topics", f"ready ({len(created)} created)")
        endpoints = Endpoints(database_url=database_url, kafka_bootstrap_servers=bootstrap)
        write_stack_file(settings.data_dir, endpoints)
        return endpoints

    def spawn_services(self, endpoints: Endpoints) -> dict[str, str]:
        """Start each existing service; return the base URL whose /health proves it is up.

        Public services share one process and origin (``vidpipe web`` on ``PORT``); every
        other service runs alone with ``/health`` on an ``OPS_PORT`` of its own.
        """
        health: dict[str, str] = {}
        public_port = self.settings.port or free_port()
        write_stack_file(self.settings.data_dir, endpoints, port=public_port)
        services = list(SERVICES)
        if any(s.public for s in services):
            health["web"] = self._spawn("web", endpoints, public_port, free_port())
            for service in services:
                if service.public:
                    self.public_names.append(service.name)
        for index, service in enumerate(s for s in services if not s.public):
            ops_port = free_port() if self.settings.port == 0 else self.settings.port + 1 + index
            health[service.name] = self._spawn(service.name, endpoints, public_port, ops_port)
        return health

    def _spawn(self, command: str, endpoints: Endpoints, port: int, ops_port: int) -> str:
        env = child_env(
            DATABASE_URL=endpoints.database_url,
            KAFKA_BOOTSTRAP_SERVERS=endpoints.kafka_bootstrap_servers,
            VIDPIPE_DATA_DIR=str(self.settings.data_dir),
            OPS_PORT=str(ops_port),
            PORT=str(port),
        )
        log_path = self.settings.data_dir / "logs" / f"{command}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.children[command] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches `up` only; it stops children in order
                preexec_fn=die_with_parent,  # only sets PDEATHSIG; safe before exec
            )
        return f"http://{self.settings.host}:{port if command == 'web' else ops_port}"

    async def wait_healthy(self, health: dict[str, str], timeout_s: float = 25.0) -> None:
        deadline = time.monotonic() + timeout_s
        for name, url in health.items():
            while not await asyncio.to_thread(_answers, f"{url}/health"):
                proc = self.children[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {proc.returncode}; see its log")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} was not healthy within {timeout_s:.0f}s")
                await asyncio.sleep(0.1)
            for component in self.public_names if name == "web" else [name]:
                say(component, url)

    def stop(self) -> None:
        procs = list(self.children.values())
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
        (self.settings.data_dir / STACK_FILE).unlink(missing_ok=True)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own loopback URL
            return bool(response.status == 200)
    except OSError:
        return False


async def _wait_for_stop(stack: Stack) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        for name, proc in stack.children.items():
            if proc.poll() is not None:
                print(f"vidpipe: {name} exited with code {proc.returncode}; stopping", flush=True)
                return 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    return 0


async def up(settings: Settings) -> int:
    """Run the stack until SIGINT/SIGTERM; return the process exit code."""
    started = time.monotonic()
    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire()
    except DataDirInUse as exc:
        print(f"vidpipe: {exc}", file=sys.stderr, flush=True)
        return 1
    stack = Stack(settings)
    try:
        endpoints = await stack.start_infrastructure()
        await stack.wait_healthy(stack.spawn_services(endpoints))
        print(f"vidpipe is up in {time.monotonic() - started:.1f}s; Ctrl-C stops it", flush=True)
        return await _wait_for_stop(stack)
    finally:
        await asyncio.to_thread(stack.stop)
        lock.release()
        print("vidpipe stopped", flush=True)
