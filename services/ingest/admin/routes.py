"""``/admin/*``: the admin overview, the users page, bulk retry of failed jobs (admins only).

The overview reads the read model (jobs by status, queue, throughput, workers at work from the
latest progress ticks), PostgreSQL's ``projector_offsets`` (the projector keeps its offsets
there) and the broker (topic ends, offsets the other groups committed, the dead-letter topic).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.events import JobStatus
from schemas.groups import PROJECTOR
from schemas.topics import JOBS, JOBS_DLQ, PROGRESS
from services.core.access.disabled import DisabledAccounts
from services.core.access.tokens import Principal
from services.core.db.accounts import users
from services.core.db.readmodel import jobs, projector_offsets
from services.core.domain.ids import is_canonical_id
from services.core.http.errors import ApiError, error_reply, not_found
from services.core.http.openapi import Reply, model_response, operation
from services.core.runtime.clock import Clock
from services.core.runtime.settings import Settings
from services.core.storage import ObjectStore
from services.ingest.adapters.accounts import Accounts
from services.ingest.adapters.broker_offsets import BrokerOffsets
from services.ingest.adapters.job_log import JobLog
from services.ingest.dependencies import AUTHENTICATED, authenticate, dependencies, endpoint
from services.ingest.http.bodies import BODY_ERRORS, RetryFailedBody, UserChange, read_body
from services.ingest.http.resources import (
    AdminUser,
    AdminUsers,
    BulkResults,
    ConsumerLag,
    Overview,
    Throughput,
    Worker,
)
from services.ingest.jobs.bulk_routes import run_bulk
from services.ingest.jobs.queries import iso

BEARER = ("bearer",)
ADMIN_ONLY = {403: error_reply("not an admin"), **AUTHENTICATED}
BROKER_TIMEOUT_S = 5.0
MAX_RETRY_ALL = 1000
log = logging.getLogger(__name__)


async def require_admin(request: Request) -> Principal:
    """The caller if their account is an admin now: the role is read from the database, not
    trusted from the token, so a demotion takes effect at once in every process."""
    principal = authenticate(request)
    role = await dependencies(request).accounts.current_role(principal.user_id)
    if role != "admin":
        raise ApiError(403, "forbidden", "this needs the admin role")
    return principal


async def _job_figures(
    engine: AsyncEngine, now: datetime
) -> tuple[dict[str, int], list[Throughput]]:
    since = (now - timedelta(minutes=59)).replace(second=0, microsecond=0)
    minute = func.date_trunc("minute", jobs.c.completed_at)
    ended = (
        select(minute, jobs.c.status, func.count())
        .where(jobs.c.completed_at >= since)
        .where(jobs.c.status.in_([JobStatus.COMPLETED, JobStatus.FAILED]))
        .group_by(minute, jobs.c.status)
    )
    counted = (
        select(jobs.c.status, func.count()).where(jobs.c.deleted_at.is_(None)).group_by("status")
    )
    async with engine.connect() as conn:
        by_status = {status: 0 for status in JobStatus} | {
            str(s): int(n) for s, n in await conn.execute(counted)
        }
        per_minute: dict[tuple[datetime, str], int] = {
            (m, str(s)): int(n) for m, s, n in await conn.execute(ended)
        }
    series = []
    for i in range(60):
        at = since + timedelta(minutes=i)
        series.append(
            Throughput(
                minute=iso(at) or "",
                completed=per_minute.get((at, JobStatus.COMPLETED), 0),
                failed=per_minute.get((at, JobStatus.FAILED), 0),
            )
        )
    return by_status, series


async def _workers(engine: AsyncEngine) -> list[Worker]:
    query = (
        select(jobs.c.worker_id, jobs.c.id, jobs.c.stage, jobs.c.fps, jobs.c.started_at)
        .where(jobs.c.status == JobStatus.PROCESSING, jobs.c.deleted_at.is_(None))
        .where(jobs.c.worker_id.is_not(None))
        .order_by(jobs.c.started_at, jobs.c.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        Worker(
            worker_id=r.worker_id,
            job_id=str(r.id),
            stage=r.stage,
            fps=r.fps,
            since=iso(r.started_at),
        )
        for r in rows
    ]


async def _log_figures(
    engine: AsyncEngine, settings: Settings, broker_offsets: BrokerOffsets | None
) -> tuple[list[ConsumerLag], int | None]:
    """Consumer lag per group and topic, and the dead letters; ([], None) if the broker is
    unreachable (the overview still answers with what PostgreSQL knows)."""
    if broker_offsets is None:
        return [], None
    topics = {t.name: settings.topic(t.name) for t in (JOBS, PROGRESS, JOBS_DLQ)}
    try:
        snapshot = await asyncio.wait_for(
            broker_offsets.snapshot(topics.values(), settings.topic_prefix), BROKER_TIMEOUT_S
        )
    except Exception:
        log.warning("the broker did not answer the overview", exc_info=True)
        return [], None
    projector = settings.group(PROJECTOR.name)
    async with engine.connect() as conn:
        stored = await conn.execute(
            select(
                projector_offsets.c.topic,
                projector_offsets.c.partition,
                projector_offsets.c.next_offset,
            ).where(projector_offsets.c.consumer_group == projector)
        )
        committed = {projector: {(t, p): int(o) for t, p, o in stored}}
    committed |= {g: dict(o) for g, o in snapshot.committed.items() if g != projector}
    lags = []
    for group, offsets in sorted(committed.items()):
        for topic in sorted({t for t, _ in offsets}):
            lags.append(ConsumerLag(group=group, topic=topic, lag=snapshot.lag(offsets, topic)))
    return lags, snapshot.records(topics[JOBS_DLQ.name])


@operation(
    "The pipeline at a glance: jobs, queue, throughput, consumer lag, workers, dead letters",
    {200: Reply("the overview", Overview), **ADMIN_ONLY},
    security=BEARER,
)
@endpoint
async def overview(
    request: Request,
    engine: AsyncEngine,
    settings: Settings,
    broker_offsets: BrokerOffsets | None,
    clock: Clock,
) -> Response:
    await require_admin(request)
    by_status, throughput = await _job_figures(engine, clock())
    lags, dead = await _log_figures(engine, settings, broker_offsets)
    return model_response(
        Overview(
            jobs_by_status=by_status,
            queue_depth=by_status.get(JobStatus.PENDING, 0),
            throughput=throughput,
            consumer_lag=lags,
            workers=await _workers(engine),
            dead_letters=dead,
        ),
        headers={"Cache-Control": "no-store"},
    )


async def _admin_user(engine: AsyncEngine, user_id: str | None = None) -> list[AdminUser]:
    counts = (
        select(jobs.c.user_id, func.count().label("jobs"))
        .where(jobs.c.deleted_at.is_(None))
        .group_by(jobs.c.user_id)
        .subquery()
    )
    query = (
        select(users, func.coalesce(counts.c.jobs, 0).label("job_count"))
        .select_from(users.outerjoin(counts, counts.c.user_id == users.c.id))
        .order_by(users.c.created_at, users.c.id)
    )
    if user_id is not None:
        query = query.where(users.c.id == user_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [_as_admin_user(r) for r in rows]


def _as_admin_user(row: Any) -> AdminUser:
    return AdminUser(
        id=str(row.id),
        username=row.username,
        email=row.email,
        role=row.role,
        disabled=row.disabled,
        created_at=iso(row.created_at) or "",
        jobs=int(row.job_count),
    )


@operation(
    "Every account, with its job count",
    {200: Reply("the accounts, oldest first", AdminUsers), **ADMIN_ONLY},
    security=BEARER,
)
@endpoint
async def list_users(request: Request, engine: AsyncEngine) -> Response:
    await require_admin(request)
    return model_response(AdminUsers(items=await _admin_user(engine)))


@operation(
    "Make or revoke an admin, disable or enable an account (a role change ends the "
    "account's sessions and access tokens issued before it)",
    {
        200: Reply("the account", AdminUser),
        404: error_reply("no such user"),
        409: error_reply("an admin cannot demote or disable themselves"),
        **BODY_ERRORS,
        **ADMIN_ONLY,
    },
    body=UserChange,
    security=BEARER,
)
@endpoint
async def change_user(
    request: Request,
    engine: AsyncEngine,
    accounts: Accounts,
    disabled: DisabledAccounts | None,
) -> Response:
    principal = await require_admin(request)
    user_id = request.path_params["user_id"]
    if not is_canonical_id(user_id):  # one spelling per user: the self-check compares ids
        raise not_found("user")
    body = await read_body(request, UserChange)
    if user_id == principal.user_id and (body.role == "user" or body.disabled):
        raise ApiError(409, "conflict", "an admin cannot demote or disable themselves")
    changed = await accounts.update(user_id, role=body.role, disabled=body.disabled)
    if changed is None:
        raise not_found("user")
    if body.disabled is not None and disabled is not None:
        disabled.mark(changed.id, body.disabled)  # at once here; other processes poll
    if disabled is not None and changed.token_version:
        disabled.mark_version(changed.id, changed.token_version)  # older tokens: refused
    found = await _admin_user(engine, changed.id)
    return model_response(found[0])


@operation(
    "Retry failed jobs: the ones given, or every failed job (at most 1000 per call)",
    {200: Reply("one result per job", BulkResults), **BODY_ERRORS, **ADMIN_ONLY},
    body=RetryFailedBody,
    body_required=False,
    security=BEARER,
)
@endpoint
async def retry_failed(
    request: Request, engine: AsyncEngine, clock: Clock, job_log: JobLog, store: ObjectStore
) -> Response:
    principal = await require_admin(request)
    body = await read_body(request, RetryFailedBody)
    job_ids = body.job_ids
    if job_ids is None:
        query = (
            select(jobs.c.id)
            .where(jobs.c.status == JobStatus.FAILED, jobs.c.deleted_at.is_(None))
            .order_by(jobs.c.completed_at, jobs.c.id)
            .limit(MAX_RETRY_ALL)
        )
        async with engine.connect() as conn:
            job_ids = [str(i) for i in (await conn.execute(query)).scalars()]
    results = await run_bulk(
        request,
        principal,
        "retry",
        job_ids,
        engine=engine,
        clock=clock,
        job_log=job_log,
        store=store,
        only_status=JobStatus.FAILED,
    )
    return model_response(results)


routes = [
    Route("/admin/overview", overview, methods=["GET"]),
    Route("/admin/users", list_users, methods=["GET"]),
    Route("/admin/users/{user_id}", change_user, methods=["PATCH"]),
    Route("/admin/jobs/retry-failed", retry_failed, methods=["POST"]),
]
