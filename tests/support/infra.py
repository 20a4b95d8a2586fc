"""The session's real servers and the per-test slices of them (databases, topic prefixes),
and the fixtures that hand them out (``infra``, ``db_url``, ``topic_prefix``, ``test_env``,
``settings``, ``s3_endpoint``).

Backends, chosen by environment (see :func:`start_servers`):

- default: the embedded stack (Apache Kafka broker subprocess, embedded PostgreSQL 18);
- ``TEST_KAFKA_BOOTSTRAP_SERVERS`` + ``TEST_DATABASE_URL``: servers you already run;
- ``VIDPIPE_TEST_BACKEND=containers``: Apache Kafka and PostgreSQL containers through
  testcontainers (needs a Docker engine; CI here has none).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from services.cli.embedded import EmbeddedBroker, EmbeddedPostgres
from services.core.db.engine import migrate, plain_url
from services.core.kafka.clients import ensure_topics, wait_for_broker
from services.core.runtime.process import free_port
from services.core.runtime.settings import Settings

TEMPLATE_DB = "vidpipe_template"


@dataclass(frozen=True)
class Infra:
    """The session's shared servers."""

    bootstrap_servers: str
    server_url: str  # any database on the server; per-test URLs swap the database name


def database_url(server_url: str, database: str) -> str:
    """``server_url`` pointing at another database (works for TCP and Unix-socket URLs)."""
    head, _, query = server_url.partition("?")
    scheme, _, rest = head.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{database}" + (f"?{query}" if query else "")


def start_servers(stack: ExitStack, root: Path) -> Infra:
    """Start (or find) the broker and PostgreSQL, stopped by ``stack``; migrate the template."""
    external = (
        os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS"),
        os.environ.get("TEST_DATABASE_URL"),
    )
    if all(external):
        bootstrap, server_url = external[0] or "", external[1] or ""
    elif os.environ.get("VIDPIPE_TEST_BACKEND") == "containers":
        bootstrap, server_url = _containers(stack)
    else:
        bootstrap, server_url = _embedded(stack, root)
    asyncio.run(_prepare_template(server_url))
    migrate(database_url(server_url, TEMPLATE_DB))
    asyncio.run(wait_for_broker(bootstrap, 30))
    return Infra(bootstrap_servers=bootstrap, server_url=server_url)


def _containers(stack: ExitStack) -> tuple[str, str]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    kafka = stack.enter_context(KafkaContainer().with_kraft())
    postgres = stack.enter_context(PostgresContainer("postgres:18", driver=None))
    return kafka.get_bootstrap_server(), postgres.get_connection_url()


def _embedded(stack: ExitStack, root: Path) -> tuple[str, str]:
    broker = EmbeddedBroker(free_port(), root / "kafka", log_path=root / "broker.log")
    stack.callback(broker.stop)
    bootstrap = broker.start()
    postgres = EmbeddedPostgres(root / "pg", database=TEMPLATE_DB)
    stack.callback(postgres.stop)
    return bootstrap, postgres.start()


async def _prepare_template(server_url: str) -> None:
    conn = await asyncpg.connect(plain_url(database_url(server_url, "postgres")))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", TEMPLATE_DB):
            await conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    finally:
        await conn.close()


async def create_database(infra: Infra) -> str:
    """A fresh database cloned from the migrated template; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(plain_url(database_url(infra.server_url, "postgres")))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    finally:
        await conn.close()
    return database_url(infra.server_url, name)


async def drop_database(infra: Infra, url: str) -> None:
    name = url.split("?")[0].rsplit("/", 1)[-1]
    conn = await asyncpg.connect(plain_url(database_url(infra.server_url, "postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def create_topics(infra: Infra) -> str:
    """A unique prefix with the whole topic catalogue created under it."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(infra.bootstrap_servers, topic_prefix=prefix)
    return prefix


def slice_env(infra: Infra, db_url: str, topic_prefix: str, root: Path) -> dict[str, str]:
    """Environment variables that point a vidpipe process at one isolated slice."""
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "DATABASE_URL": db_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "VIDPIPE_DATA_DIR": str(data_dir),
        "STORAGE_URL": (root / "storage").as_uri(),
        "JWT_SECRET": "test-secret-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "HOST": "127.0.0.1",
        "PORT": "0",
        "LOG_LEVEL": "INFO",
        # tests register many accounts from 127.0.0.1; test_registration.py sets its own
        "REGISTRATION_PER_HOUR": "0",
    }


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "NO_PROXY": "127.0.0.1,localhost",
}
"""What boto3 needs to talk to the local S3 endpoint and nothing else."""


@asynccontextmanager
async def own_slice(infra: Infra, root: Path, **extra: str) -> AsyncIterator[dict[str, str]]:
    """A database and topics of its own (for a module's fixtures), as ``slice_env`` plus
    ``extra``; the database is dropped at the end."""
    db_url = await create_database(infra)
    try:
        yield {**slice_env(infra, db_url, await create_topics(infra), root), **extra}
    finally:
        await drop_database(infra, db_url)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """The session's broker and PostgreSQL (started on first use; see :func:`start_servers`)."""
    # short path: PostgreSQL's Unix socket lives in its data dir (~100 character limit)
    root = Path(tempfile.mkdtemp(prefix="vpt", dir="/tmp"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root, True)
        yield start_servers(stack, root)


@pytest.fixture
async def db_url(infra: Infra) -> AsyncIterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    url = await create_database(infra)
    yield url
    await drop_database(infra, url)


@pytest.fixture
async def topic_prefix(infra: Infra) -> str:
    """A unique prefix with the whole topic catalogue created under it."""
    return await create_topics(infra)


@pytest.fixture
def test_env(infra: Infra, db_url: str, topic_prefix: str, tmp_path: Path) -> dict[str, str]:
    """Environment variables that point a vidpipe process at this test's isolated slice."""
    return slice_env(infra, db_url, topic_prefix, tmp_path)


@pytest.fixture
def settings(test_env: dict[str, str]) -> Settings:
    return Settings.from_env(test_env)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 endpoint: moto in server mode on loopback (no in-process mocking)."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        for name, value in AWS_ENV.items():
            env.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
            env.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()
