"""``GET /jobs``: the caller's jobs (an admin's: everyone's with ``all=true``), searched,
sorted and paged (the queries are in ``list_queries.py``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from schemas.events import JobStatus
from services.core.access.tokens import Principal
from services.core.domain.columns import FILENAME_MAX
from services.core.http.errors import ApiError, error_reply
from services.core.http.openapi import Param, Reply, model_response, operation
from services.core.runtime.clock import Clock
from services.core.runtime.settings import Settings
from services.ingest.adapters.media_urls import MediaUrls
from services.ingest.dependencies import AUTHENTICATED, authenticate, endpoint
from services.ingest.http.resources import JobList
from services.ingest.jobs.list_queries import SORTS, JobQuery, list_rows, queue_positions
from services.ingest.jobs.queries import row_view, usage

STATUSES = tuple(JobStatus)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(422, "invalid_input", f"{name}: must be an integer in {low}..{high}")
    return int(raw)


@operation(
    "List your jobs, newest first (admins: everyone's with all=true, or one user's)",
    {
        200: Reply("a page", JobList),
        403: error_reply("all=true from a non-admin"),
        422: error_reply("bad filter or cursor"),
        **AUTHENTICATED,
    },
    params=(
        Param("status", {"type": "string", "enum": list(STATUSES)}),
        Param(
            "q",
            {"type": "string", "maxLength": FILENAME_MAX},
            "part of the original filename (case-insensitive)",
        ),
        Param("sort", {"type": "string", "enum": list(SORTS), "default": "created_at"}),
        Param("order", {"type": "string", "enum": ["asc", "desc"], "default": "desc"}),
        Param("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
        Param("cursor", {"type": "string"}, "``next_cursor`` of the previous page"),
        Param(
            "all",
            {"type": "boolean", "default": False},
            "admins only: every user's jobs, each with its owner's username",
        ),
        Param("user_id", {"type": "string"}, "admins only: that user's jobs"),
    ),
    security=("bearer",),
)
@endpoint
async def list_jobs(
    request: Request, engine: AsyncEngine, settings: Settings, media: MediaUrls, clock: Clock
) -> Response:
    principal = authenticate(request)
    query = _job_query(request, principal)
    rows, cursor = await list_rows(engine, query)
    places = await queue_positions(engine, rows)
    now = clock().timestamp()
    items = [
        row_view(
            r,
            media,
            now,
            queue_position=places.get(str(r.id)),
            username=r.username if query.with_usernames else None,
        )
        for r in rows
    ]
    spent = await usage(engine, settings, query.owner) if query.owner is not None else None
    return model_response(JobList(items=items, next_cursor=cursor, usage=spent))


def _choice(request: Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name, default)
    if value not in allowed:
        raise ApiError(422, "invalid_input", f"{name}: must be one of {', '.join(allowed)}")
    return value


def _job_query(request: Request, principal: Principal) -> JobQuery:
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(422, "invalid_input", f"status: must be one of {', '.join(STATUSES)}")
    everyone = _choice(request, "all", ("true", "false"), "false") == "true"
    if everyone and not principal.is_admin:
        raise ApiError(403, "forbidden", "all: only an admin may list every user's jobs")
    owner: str | None = principal.user_id
    if principal.is_admin:
        owner = request.query_params.get("user_id") or (None if everyone else owner)
    q = request.query_params.get("q") or None
    if q is not None and len(q) > FILENAME_MAX:
        raise ApiError(422, "invalid_input", f"q: at most {FILENAME_MAX} characters")
    if q is not None and "\x00" in q:  # PostgreSQL text cannot hold it; no filename has it
        raise ApiError(422, "invalid_input", "q: must not contain NUL")
    return JobQuery(
        owner=owner,
        status=status,
        q=q,
        sort=_choice(request, "sort", SORTS, "created_at"),  # type: ignore[arg-type]
        order=_choice(request, "order", ("asc", "desc"), "desc"),  # type: ignore[arg-type]
        limit=_int_param(request, "limit", 20, 1, 100),
        cursor=request.query_params.get("cursor"),
        with_usernames=principal.is_admin and owner is None,
    )
