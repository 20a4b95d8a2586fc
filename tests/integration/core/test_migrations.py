"""The Alembic migrations produce exactly the tables the code declares."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from services.core.db.accounts import metadata
from services.core.db.engine import create_engine, migrate, plain_url


async def test_migrated_schema_matches_the_tables(db_url: str) -> None:
    engine = create_engine(db_url)

    def diff(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_migrate_is_idempotent_across_processes(db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_url, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            "migrate",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    for proc in procs:
        _, err = await proc.communicate()
        assert proc.returncode == 0, err
    await asyncio.to_thread(migrate, db_url)
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()
    assert {"users", "jobs", "processing_history", "refresh_tokens", "projector_offsets"} <= tables
    assert version == "0006"
