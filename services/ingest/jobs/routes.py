"""``/jobs`` routes: list, details, history, download, and the commands that produce events."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.envelope import new_envelope
from schemas.events import (
    CancelRequested,
    Event,
    JobDeleted,
    ReprocessRequested,
    RetryScheduled,
)
from schemas.options import InvalidOptions, parse_options
from services.core.access.tokens import Principal
from services.core.domain.columns import job_state
from services.core.domain.jobstate import delete_requires_cancel, legal, may_retry
from services.core.http.errors import ApiError, error_reply, not_found
from services.core.http.openapi import Param, Reply, model_response, operation
from services.core.runtime.clock import Clock
from services.core.runtime.logs import current_correlation_id
from services.core.storage import ObjectStore, keys
from services.ingest.adapters.job_log import JobLog
from services.ingest.adapters.media_urls import MediaUrls
from services.ingest.dependencies import AUTHENTICATED, EVENT_SOURCE, authenticate, endpoint
from services.ingest.http.bodies import BODY_ERRORS, ReprocessBody, read_body
from services.ingest.http.delivery import stored_file
from services.ingest.http.resources import Accepted, History, Job
from services.ingest.jobs.list_routes import list_jobs
from services.ingest.jobs.queries import history_rows, owned_row, row_view, valid_job_id

BEARER = ("bearer",)
ACCEPTED = {
    202: Reply("accepted: the events are published", Accepted),
    404: error_reply("no such job"),
    409: error_reply("illegal in the job's state"),
    **AUTHENTICATED,
}
log = logging.getLogger(__name__)


@operation(
    "Job details",
    {200: Reply("the job", Job), 404: error_reply("no such job"), **AUTHENTICATED},
    security=BEARER,
)
@endpoint
async def get_job(
    request: Request, engine: AsyncEngine, media: MediaUrls, clock: Clock
) -> Response:
    principal = authenticate(request)
    row = await owned_row(engine, principal, request.path_params["job_id"])
    return model_response(row_view(row, media, clock().timestamp()))


@operation(
    "Processing history",
    {
        200: Reply("the steps, oldest first", History),
        404: error_reply("no such job"),
        **AUTHENTICATED,
    },
    security=BEARER,
)
@endpoint
async def job_history(request: Request, engine: AsyncEngine) -> Response:
    principal = authenticate(request)
    row = await owned_row(engine, principal, request.path_params["job_id"])
    return model_response(History(items=await history_rows(engine, str(row.id))))


@operation(
    "Download the main or a named output",
    {
        200: Reply("the file (Range supported)"),
        206: Reply("a byte range"),
        307: Reply("redirect to a presigned URL (S3 storage)"),
        404: error_reply("no such job or output"),
        409: error_reply("no outputs yet"),
        416: Reply("range not satisfiable"),
        **AUTHENTICATED,
    },
    params=(Param("output", {"type": "string"}, "an output's name; default: the first"),),
    security=BEARER,
)
@endpoint
async def download(request: Request, engine: AsyncEngine, store: ObjectStore) -> Response:
    principal = authenticate(request)
    row = await owned_row(engine, principal, request.path_params["job_id"])
    outputs: list[dict[str, Any]] = list(row.outputs or [])
    wanted = request.query_params.get("output")
    if not outputs:
        raise ApiError(409, "no_outputs", f"job is {row.status}; it has no outputs yet")
    chosen = (
        outputs[0] if wanted is None else next((o for o in outputs if o["name"] == wanted), None)
    )
    if chosen is None:
        raise not_found("output")
    filename = _download_name(row.original_filename, chosen["key"])
    content_type = chosen.get("content_type")
    return await stored_file(store, chosen["key"], content_type=content_type, filename=filename)


def _download_name(original: str, key: str) -> str:
    stem = original.rsplit(".", 1)[0] or "video"
    name = key.rsplit("/", 1)[-1]
    return f"{stem}-{name}"


Build = Callable[[Request, Clock, Principal, Any], Awaitable[list[Event]]]


async def checked_events(
    request: Request, clock: Clock, principal: Principal, row: Any, build: Build
) -> list[Event]:
    """The command's events, if legal in the job's state (else 409)."""
    events = await build(request, clock, principal, row)
    state = job_state(row)
    for event in events:
        if not legal(state, event.type):
            raise ApiError(
                409,
                "illegal_state",
                f"cannot {event.type.rsplit('.', 1)[-1].replace('_', ' ')}: job is {row.status}",
            )
    return events


async def publish(job_log: JobLog, events: list[Event]) -> None:
    """Publish the events and wait (bounded) until the read model shows them."""
    envelopes = [
        new_envelope(e, source=EVENT_SOURCE, correlation_id=current_correlation_id())
        for e in events
    ]
    await job_log.projected(await job_log.publish(envelopes))


async def delete_files(store: ObjectStore, job_id: str) -> None:
    for prefix in keys.job_prefixes(job_id):
        try:
            await store.delete_prefix(prefix)
        except Exception:  # the job is already deleted in the log; files can be swept later
            log.exception("could not delete %s", prefix)


async def _command(
    request: Request, build: Build, engine: AsyncEngine, clock: Clock, job_log: JobLog
) -> Response:
    """Check the command is legal for the job's state (409 if not), publish, answer 202."""
    principal = authenticate(request)
    row = await owned_row(engine, principal, request.path_params["job_id"])
    events = await checked_events(request, clock, principal, row, build)
    await publish(job_log, events)
    accepted = Accepted(id=str(row.id), accepted=[e.type for e in events])
    return model_response(accepted, status_code=202)


async def cancel_events(
    request: Request, clock: Clock, principal: Principal, row: Any
) -> list[Event]:
    return [CancelRequested(job_id=str(row.id), requested_by=principal.user_id)]


async def retry_events(
    request: Request, clock: Clock, principal: Principal, row: Any
) -> list[Event]:
    if not may_retry(job_state(row)):
        raise ApiError(409, "illegal_state", f"cannot retry: job is {row.status}")
    return [
        RetryScheduled(
            job_id=str(row.id),
            attempt=row.attempts + 1,
            not_before=clock(),
            reason="requested by user",
            requested_by=principal.user_id,
            # a worker that never saw this job's submission still knows what to run
            processing_options=dict(row.processing_options or {}),
        )
    ]


async def _reprocess(request: Request, clock: Clock, principal: Principal, row: Any) -> list[Event]:
    body = await read_body(request, ReprocessBody)
    try:
        options = parse_options(body.options or row.processing_options)
    except InvalidOptions as exc:
        raise ApiError(422, "invalid_options", f"options: {exc}") from None
    return [
        ReprocessRequested(
            job_id=str(row.id),
            processing_options=options.to_event_dict(),
            requested_by=principal.user_id,
            reason="requested by user",
            attempt=row.attempts + 1,  # attempts never restart: new keys, URLs and fencing
        )
    ]


async def delete_events(
    request: Request, clock: Clock, principal: Principal, row: Any
) -> list[Event]:
    events: list[Event] = []
    if delete_requires_cancel(job_state(row)):
        events.append(CancelRequested(job_id=str(row.id), requested_by=principal.user_id))
    events.append(JobDeleted(job_id=str(row.id), requested_by=principal.user_id))
    return events


@operation("Cancel", ACCEPTED, security=BEARER)
@endpoint
async def cancel_job(
    request: Request, engine: AsyncEngine, clock: Clock, job_log: JobLog
) -> Response:
    return await _command(request, cancel_events, engine, clock, job_log)


@operation("Retry a failed or cancelled job", ACCEPTED, security=BEARER)
@endpoint
async def retry_job(
    request: Request, engine: AsyncEngine, clock: Clock, job_log: JobLog
) -> Response:
    return await _command(request, retry_events, engine, clock, job_log)


@operation(
    "Run again with new options",
    {**ACCEPTED, **BODY_ERRORS, 422: error_reply("invalid body or options")},
    body=ReprocessBody,
    body_required=False,
    security=BEARER,
)
@endpoint
async def reprocess_job(
    request: Request, engine: AsyncEngine, clock: Clock, job_log: JobLog
) -> Response:
    return await _command(request, _reprocess, engine, clock, job_log)


@operation("Cancel if running, delete files, hide the job", ACCEPTED, security=BEARER)
@endpoint
async def delete_job(
    request: Request, engine: AsyncEngine, clock: Clock, job_log: JobLog, store: ObjectStore
) -> Response:
    response = await _command(request, delete_events, engine, clock, job_log)
    await delete_files(store, valid_job_id(request.path_params["job_id"]))
    return response


routes = [
    Route("/jobs", list_jobs, methods=["GET"]),
    Route("/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/jobs/{job_id}", delete_job, methods=["DELETE"]),
    Route("/jobs/{job_id}/history", job_history, methods=["GET"]),
    Route("/jobs/{job_id}/download", download, methods=["GET"]),
    Route("/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
    Route("/jobs/{job_id}/retry", retry_job, methods=["POST"]),
    Route("/jobs/{job_id}/reprocess", reprocess_job, methods=["POST"]),
]
