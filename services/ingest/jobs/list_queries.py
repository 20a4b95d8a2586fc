"""``GET /jobs``: filter, search, sort and keyset pagination over the read model's ``jobs``.

The cursor carries the sort key's value and the id of the last row of the page (and which sort
it belongs to), so pages never skip or repeat a job while new jobs arrive.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.events import JobStatus
from services.core.db.accounts import users
from services.core.db.readmodel import jobs
from services.core.http.errors import ApiError

SORTS = ("created_at", "updated_at", "filename", "status")
Sort = Literal["created_at", "updated_at", "filename", "status"]
Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class JobQuery:
    """What a caller asked ``GET /jobs`` for (already checked)."""

    owner: str | None  # None: everyone's (an admin's ``all=true``)
    status: str | None = None
    q: str | None = None
    sort: Sort = "created_at"
    order: Order = "desc"
    limit: int = 20
    cursor: str | None = None
    with_usernames: bool = False


def _key(sort: Sort) -> ColumnElement[Any]:
    if sort == "filename":
        return func.lower(jobs.c.original_filename)
    keys: dict[str, ColumnElement[Any]] = {
        "created_at": jobs.c.created_at,
        "updated_at": jobs.c.updated_at,
        "status": jobs.c.status,
    }
    return keys[sort]


def _value(row: Any, sort: Sort) -> str:
    if sort == "filename":
        return str(row.original_filename).lower()
    value = getattr(row, sort)
    return value.isoformat() if isinstance(value, datetime) else str(value)


def encode_cursor(query: JobQuery, row: Any) -> str:
    raw = json.dumps([query.sort, query.order, _value(row, query.sort), str(row.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(query: JobQuery, cursor: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort, order, value, job_id = json.loads(raw)
        if (sort, order) != (query.sort, query.order):
            raise ValueError("another sort")
        if sort in ("created_at", "updated_at"):
            value = datetime.fromisoformat(value)
        elif not isinstance(value, str) or "\x00" in value:
            raise TypeError("not a string PostgreSQL can compare")
        return value, str(uuid.UUID(job_id))
    except (ValueError, TypeError):
        raise ApiError(
            422, "invalid_cursor", "cursor: not a cursor this API returned for this sort"
        ) from None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_rows(engine: AsyncEngine, query: JobQuery) -> tuple[list[Any], str | None]:
    """One page of job rows (with ``username`` when asked) and the next page's cursor."""
    key = _key(query.sort)
    columns: list[Any] = [jobs]
    if query.with_usernames:
        columns.append(users.c.username.label("username"))
    statement = select(*columns).where(jobs.c.deleted_at.is_(None))
    if query.with_usernames:
        statement = statement.select_from(jobs.outerjoin(users, users.c.id == jobs.c.user_id))
    if query.owner is not None:
        statement = statement.where(jobs.c.user_id == query.owner)
    if query.status is not None:
        statement = statement.where(jobs.c.status == query.status)
    if query.q:
        statement = statement.where(jobs.c.original_filename.ilike(_like(query.q), escape="\\"))
    if query.cursor:
        value, job_id = decode_cursor(query, query.cursor)
        timed = query.sort in ("created_at", "updated_at")
        kind = jobs.c.created_at.type if timed else jobs.c.original_filename.type
        after = tuple_(literal(value, kind), literal(job_id, jobs.c.id.type))
        keyed = tuple_(key, jobs.c.id)
        statement = statement.where(keyed < after if query.order == "desc" else keyed > after)
    if query.order == "desc":
        statement = statement.order_by(key.desc(), jobs.c.id.desc())
    else:
        statement = statement.order_by(key.asc(), jobs.c.id.asc())
    async with engine.connect() as conn:
        rows = list((await conn.execute(statement.limit(query.limit + 1))).all())
    following = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        following = encode_cursor(query, rows[-1])
    return rows, following


async def queue_positions(engine: AsyncEngine, rows: list[Any]) -> dict[str, int]:
    """The 1-based place of each pending job among every pending job, oldest first."""
    pending = [str(r.id) for r in rows if r.status == JobStatus.PENDING]
    if not pending:
        return {}
    waiting = jobs.alias("waiting")
    ahead = (
        select(func.count())
        .select_from(waiting)
        .where(
            waiting.c.status == JobStatus.PENDING,
            waiting.c.deleted_at.is_(None),
            or_(
                waiting.c.created_at < jobs.c.created_at,
                and_(waiting.c.created_at == jobs.c.created_at, waiting.c.id <= jobs.c.id),
            ),
        )
        .scalar_subquery()
    )
    statement = select(jobs.c.id, ahead).where(jobs.c.id.in_(pending))
    async with engine.connect() as conn:
        return {str(job_id): int(place) for job_id, place in await conn.execute(statement)}
