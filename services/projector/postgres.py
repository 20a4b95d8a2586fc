"""PostgreSQL adapter of the projector: load rows, write a batch and its offsets, notify.

Raw asyncpg rather than SQLAlchemy: a batch is thousands of rows, and binary ``COPY`` into a
temporary staging table followed by one ``INSERT ... ON CONFLICT`` is the fastest bulk upsert
PostgreSQL offers. Every method runs inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import pydantic_core

from services.core.db.readmodel import APPLIED_CHANNEL
from services.projector.projection import BatchOutcome
from services.projector.rows import (
    HISTORY_COLUMNS,
    JOB_COLUMNS,
    JSON_JOB_COLUMNS,
    HistoryRow,
    JobRow,
    job_values,
)

OffsetKey = tuple[str, int]
"""(physical topic, partition) as stored in ``projector_offsets``."""


@dataclass(frozen=True)
class ReadModelTables:
    """Names of the tables a projector writes (the live ones, or a rebuild's fresh ones)."""

    jobs: str = "jobs"
    history: str = "processing_history"


LIVE_TABLES = ReadModelTables()
REBUILD_TABLES = ReadModelTables("jobs_rebuild", "processing_history_rebuild")

_UUID_COLUMNS = ("id", "user_id", "batch_id")
_HISTORY_METADATA = HISTORY_COLUMNS.index("metadata")


def _dumps(value: Any) -> str:
    # jsonb has no NaN/Infinity: write null, or one such value would fail its batch forever
    return pydantic_core.to_json(value, inf_nan_mode="null").decode()


class ReadModelStore:
    """The read model and the offsets of one consumer group, on one connection."""

    def __init__(self, conn: asyncpg.Connection, tables: ReadModelTables, group: str) -> None:
        self.conn = conn
        self.tables = tables
        self.group = group
        self._json_at = [i for i, name in enumerate(JOB_COLUMNS) if name in JSON_JOB_COLUMNS]
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in JOB_COLUMNS if c != "id")
        self._upsert_jobs = (
            f"INSERT INTO {tables.jobs} SELECT * FROM stage_jobs "  # noqa: S608 (fixed names)
            f"ON CONFLICT (id) DO UPDATE SET {updates}"
        )
        assignments = ", ".join(f"{c} = s.{c}" for c in JOB_COLUMNS if c != "id")
        self._update_jobs = (
            f"UPDATE {tables.jobs} AS j SET {assignments} "  # noqa: S608 (fixed names)
            "FROM stage_jobs AS s WHERE j.id = s.id"
        )
        self._insert_history = (
            f"INSERT INTO {tables.history} SELECT * FROM stage_history "  # noqa: S608
            "ON CONFLICT DO NOTHING"
        )
        # Locked in id order: a member applying progress ticks and one applying the same
        # jobs' lifecycle (the two topics' partitions may be assigned apart) take turns.
        self._select = (
            f"SELECT {', '.join(JOB_COLUMNS)} FROM {tables.jobs} "  # noqa: S608 (fixed names)
            "WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        )

    async def prepare(self) -> None:
        """Create this session's staging tables (emptied at every commit)."""
        for stage, table in (
            ("stage_jobs", self.tables.jobs),
            ("stage_history", self.tables.history),
        ):
            await self.conn.execute(f"DROP TABLE IF EXISTS pg_temp.{stage}")
            await self.conn.execute(
                f"CREATE TEMP TABLE {stage} (LIKE {table}) ON COMMIT DELETE ROWS"
            )

    async def lock(self) -> None:
        """Exclusive: wait for every batch commit of this group, and keep new ones out."""
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.group)

    async def lock_partitions(self, keys: Sequence[OffsetKey]) -> dict[OffsetKey, int]:
        """For a batch commit: the stored offsets of ``keys``, locked until the commit.

        The group's advisory lock is taken *shared*, so members of the group commit side
        by side while an assignment or a rebuild swap (exclusive) waits for them all. The
        offset rows are locked in key order: two commits of one partition (a member the
        group has moved on from, still running) take turns, and the second one sees the
        offsets the first one wrote."""
        await self.conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext($1))", self.group)
        topics, partitions = zip(*sorted(keys), strict=True) if keys else ((), ())
        rows = await self.conn.fetch(
            "SELECT o.topic, o.partition, o.next_offset FROM projector_offsets AS o "
            "JOIN unnest($2::text[], $3::int[]) AS k(t, p) ON o.topic = k.t AND o.partition = k.p "
            "WHERE o.consumer_group = $1 ORDER BY o.topic, o.partition FOR UPDATE OF o",
            self.group,
            list(topics),
            list(partitions),
        )
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def offsets(self) -> dict[OffsetKey, int]:
        """The stored next offsets of this group."""
        rows = await self.conn.fetch(
            "SELECT topic, partition, next_offset FROM projector_offsets WHERE consumer_group=$1",
            self.group,
        )
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def save_offsets(self, offsets: Mapping[OffsetKey, int]) -> None:
        """Upsert next offsets (a plain set: a reset log may move them backwards)."""
        if not offsets:
            return
        topics, partitions = zip(*offsets, strict=True)
        await self.conn.execute(
            "INSERT INTO projector_offsets (consumer_group, topic, partition, next_offset) "
            "SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o) "
            "ON CONFLICT (consumer_group, topic, partition) DO UPDATE "
            "SET next_offset = EXCLUDED.next_offset, updated_at = now()",
            self.group,
            list(topics),
            list(partitions),
            list(offsets.values()),
        )

    async def load(self, job_ids: Iterable[str]) -> dict[str, JobRow]:
        """The stored rows of these jobs (missing ids are simply absent), locked until the
        commit."""
        ids = list(set(job_ids))
        if not ids:
            return {}
        rows: dict[str, JobRow] = {}
        for record in await self.conn.fetch(self._select, ids):
            values = list(record.values())
            for i in self._json_at:
                values[i] = json.loads(values[i])
            row = JobRow(*values)
            row.id, row.user_id = str(row.id), str(row.user_id)
            row.batch_id = None if row.batch_id is None else str(row.batch_id)
            rows[row.id] = row
        return rows

    async def write(self, outcome: BatchOutcome, offsets: Mapping[OffsetKey, int]) -> None:
        """Upsert changed jobs, insert history rows, store offsets, notify waiters at commit."""
        created: list[list[Any]] = []
        updated: list[list[Any]] = []
        for row in outcome.rows.values():
            (created if row.id in outcome.created else updated).append(self._job_record(row))
        history = [self._history_record(row) for row in outcome.history]
        try:
            async with self.conn.transaction():  # a savepoint: the fallback starts clean
                await self._write_new(created, updated, history)
        except (asyncpg.UniqueViolationError, _RowsVanished):
            await self._upsert(created + updated, history)
        await self.save_offsets(offsets)
        await self.notify()

    async def _write_new(
        self, created: list[list[Any]], updated: list[list[Any]], history: list[list[Any]]
    ) -> None:
        """The common case, cheaper than upserts: jobs the batch created are not in the table
        (they were not among the rows loaded under the lock), history rows are new. Anything
        else raises, and :meth:`_upsert` writes the batch instead."""
        await self._copy(self.tables.jobs, created, JOB_COLUMNS)
        if updated:
            await self._copy("stage_jobs", updated, JOB_COLUMNS, "pg_temp")
            status = await self.conn.execute(self._update_jobs)
            if status != f"UPDATE {len(updated)}":
                raise _RowsVanished(status)
        await self._copy(self.tables.history, history, HISTORY_COLUMNS)

    async def _upsert(self, jobs: list[list[Any]], history: list[list[Any]]) -> None:
        """Insert or update every job row; history rows that exist already are left alone."""
        if jobs:
            await self._copy("stage_jobs", jobs, JOB_COLUMNS, "pg_temp")
            await self.conn.execute(self._upsert_jobs)
        if history:
            await self._copy("stage_history", history, HISTORY_COLUMNS, "pg_temp")
            await self.conn.execute(self._insert_history)

    async def _copy(
        self, table: str, rows: list[list[Any]], columns: Sequence[str], schema: str | None = None
    ) -> None:
        if rows:
            await self.conn.copy_records_to_table(
                table, records=rows, columns=columns, schema_name=schema
            )

    async def notify(self) -> None:
        """``pg_notify`` takes effect at commit, so a woken waiter sees the new offsets."""
        await self.conn.execute("SELECT pg_notify($1, $2)", APPLIED_CHANNEL, self.group)

    def _job_record(self, row: JobRow) -> list[Any]:
        values = list(job_values(row))
        for i in self._json_at:
            values[i] = _dumps(values[i])
        return values

    @staticmethod
    def _history_record(row: HistoryRow) -> list[Any]:
        values = list(row)
        values[_HISTORY_METADATA] = _dumps(row.metadata)
        return values


class _RowsVanished(Exception):
    """A loaded job row was gone at update time: let the upsert path write the batch."""
