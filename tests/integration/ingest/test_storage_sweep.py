"""The orphan sweep against a real read model (PostgreSQL) and a real local store."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import asyncpg

from services.core.db.engine import create_engine, plain_url
from services.core.storage.local import LocalObjectStore
from services.ingest.adapters.storage_sweep import OrphanSweep
from tests.support.notifier import insert_job

GRACE_S = 3600.0
OLD = time.time() - 2 * GRACE_S


def store_files(root: Path, job_id: str, *, modified: float) -> list[Path]:
    files = [root / "sources" / job_id / "source", root / "outputs" / job_id / "1" / "a.mp4"]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        os.utime(path, (modified, modified))
    return files


async def execute(db_url: str, sql: str, *args: object) -> None:
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def test_the_sweep_removes_orphaned_prefixes_and_keeps_fresh_and_live_ones(
    db_url: str, tmp_path: Path
) -> None:
    owner = str(uuid.uuid4())
    live = await insert_job(db_url, owner)
    deleted = await insert_job(db_url, owner)
    await execute(db_url, "UPDATE jobs SET deleted_at = now() WHERE id = $1", deleted)
    unknown, fresh, uploading = (str(uuid.uuid4()) for _ in range(3))
    await execute(
        db_url,
        "INSERT INTO users (id, username, email, password_hash) VALUES ($1, 'u', 'u@x', 'h')",
        owner,
    )
    await execute(
        db_url,
        "INSERT INTO uploads (id, user_id, job_id, length, filename, expires_at)"
        " VALUES ($1, $2, $3, 10, 'a.mp4', now() + interval '1 day')",
        str(uuid.uuid4()),
        owner,
        uploading,
    )
    kept = [
        *store_files(tmp_path, live, modified=OLD),
        *store_files(tmp_path, fresh, modified=time.time()),  # maybe not projected yet
        *store_files(tmp_path, uploading, modified=OLD),  # an unfinished tus upload's
    ]
    gone = [
        *store_files(tmp_path, deleted, modified=OLD),
        *store_files(tmp_path, unknown, modified=OLD),
        *store_files(tmp_path, deleted.upper(), modified=OLD),  # no job has this spelling
    ]
    engine = create_engine(db_url)
    try:
        sweep = OrphanSweep(LocalObjectStore(tmp_path), engine, GRACE_S)
        removed = await sweep.sweep()
        assert sorted(removed) == sorted([deleted, unknown, deleted.upper()])
        assert [p for p in gone if p.exists()] == []
        assert all(p.exists() for p in kept)
        assert not (tmp_path / "sources" / deleted).exists()  # no empty directories left
        assert await sweep.sweep() == []  # nothing more on the next round
    finally:
        await engine.dispose()
