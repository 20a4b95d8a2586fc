"""HTTP endpoints: ``GET /events``, ``GET /jobs/{job_id}/events`` and the notifier's ops routes.

Everything that can refuse a stream (a bad token, someone else's job) answers with a JSON
error before the stream opens; once it is open, only the stream itself talks.
"""

from __future__ import annotations

import time
from typing import Literal

from prometheus_client import REGISTRY
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from services.core.access.tokens import Principal
from services.core.http.auth import authenticate as authenticate_bearer
from services.core.http.errors import ApiError, error_reply, error_response, not_found
from services.core.http.openapi import Param, Reply, operation
from services.core.runtime.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS
from services.notifier import cursor
from services.notifier.admission import jittered
from services.notifier.dependencies import Dependencies
from services.notifier.metrics import ADMISSION_WAITING, CONNECTED_CLIENTS_METRIC, STREAMS_REFUSED
from services.notifier.response import LiveEventSource
from services.notifier.subscriber import Subscriber


def authenticate(request: Request, deps: Dependencies) -> Principal:
    """The caller, from ``Authorization: Bearer`` or ``?access_token=`` (EventSource sends no
    headers); a token already verified by this instance is not verified again."""
    return authenticate_bearer(
        request,
        request.app.state.secret,
        query_param="access_token",
        missing="an access token is required",
        invalid="the access token is invalid or expired",
        verified=request.app.state.verified_tokens,
        disabled=deps.disabled,
    )


async def _subscriber(request: Request, deps: Dependencies, job_id: str | None) -> Subscriber:
    principal = authenticate(request, deps)
    limit = deps.config.queue_size
    if job_id is not None:
        owner = await deps.reads.job_owner(job_id)
        if owner is None or (owner != principal.user_id and not principal.is_admin):
            raise not_found()  # existence never leaks
        return Subscriber(job_id=job_id, user_id=None, limit=limit, principal=principal.user_id)
    user_id = request.query_params.get("user_id")
    if not principal.is_admin:
        if user_id not in (None, principal.user_id):
            raise ApiError(403, "forbidden", "only an admin may follow another user's jobs")
        user_id = principal.user_id
    return Subscriber(job_id=None, user_id=user_id, limit=limit, principal=principal.user_id)


def overloaded(deps: Dependencies) -> Response:
    """503 with a jittered ``Retry-After``: refused clients come back spread out."""
    STREAMS_REFUSED.inc()
    config = deps.config
    seconds = jittered(config.retry_ms, config.retry_jitter_ms) / 1000
    headers = {"Retry-After": str(max(1, round(seconds)))}
    message = "too many streams are opening; retry after the Retry-After delay"
    return error_response(503, "overloaded", message, headers)


async def _open_stream(request: Request, job_id: str | None) -> Response:
    deps: Dependencies = request.app.state.dependencies
    try:
        sub = await _subscriber(request, deps, job_id)
    except ApiError as refusal:  # answered here: streams skip Starlette's exception middleware
        return error_response(refusal.status, refusal.code, refusal.message, refusal.headers)
    last_id = request.headers.get("last-event-id")
    resume_from = cursor.decode(last_id, deps.hub.layout) if last_id else None
    return LiveEventSource(deps, sub, resume_from)


class StreamEndpoint:
    """A stream route as a plain ASGI app: Starlette calls it without ``request_response``
    and its exception wrappers, whose frames would stay alive as long as the stream."""

    def __init__(self, job_in_path: bool) -> None:
        self.job_in_path = job_in_path
        self.template = "/jobs/{job_id}/events" if job_in_path else "/events"
        self._seconds = HTTP_REQUEST_SECONDS.labels(self.template)

    def _count(self, scope: Scope, status: int, started: float) -> None:
        """``http_requests_total`` as ingest counts it; a stream counts once, when it opens."""
        HTTP_REQUESTS.labels(self.template, scope["method"], str(status)).inc()
        self._seconds.observe(time.perf_counter() - started)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        deps: Dependencies = scope["app"].state.dependencies
        admission = deps.admission
        ADMISSION_WAITING.set(admission.waiting + 1)
        admitted = await admission.enter()  # a storm waits here, bounded, or is refused
        ADMISSION_WAITING.set(admission.waiting)
        if not admitted:
            self._count(scope, 503, started)
            await overloaded(deps)(scope, receive, send)
            return
        try:
            request = Request(scope, receive)
            if self.job_in_path:  # GET /jobs/{job_id}/events: every event of one job
                job_id = request.path_params["job_id"]
            else:  # GET /events: every event of the caller's jobs (admin: all, or ?user_id=)
                job_id = request.query_params.get("job_id")
            response = await _open_stream(request, job_id)
            del request  # not kept alive for the stream's lifetime
        except Exception:
            admission.leave()
            self._count(scope, 500, started)  # uvicorn answers it
            raise
        except BaseException:  # cancelled: the client left while its set-up waited
            admission.leave()
            raise
        if isinstance(response, LiveEventSource):
            self._count(scope, 200, started)
        else:
            admission.leave()  # a refusal: the slot is free at once
            self._count(scope, response.status_code, started)
        await response(scope, receive, send)  # a stream leaves once its opening is sent


class NotifierHealth(BaseModel):
    """The notifier's health; ``clients`` and ``position`` once its consumer has started."""

    status: Literal["ok", "error", "starting"]
    clients: int | None = Field(None, description="open streams")
    position: str | None = Field(None, description="the log position delivered so far")


@operation(
    "Notifier health: 200 while its fan-out consumer runs",
    {200: Reply("running", NotifierHealth), 503: Reply("starting or failed", NotifierHealth)},
    tag="ops",
)
async def health(request: Request) -> Response:
    """200 while the fan-out consumer runs, else 503."""
    deps: Dependencies | None = getattr(request.app.state, "dependencies", None)
    body = NotifierHealth(status="starting")
    if deps is not None:
        body = NotifierHealth(
            status="ok" if deps.hub.healthy else "error",
            clients=int(REGISTRY.get_sample_value(CONNECTED_CLIENTS_METRIC) or 0),
            position=cursor.encode(deps.hub.position),
        )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=200 if body.status == "ok" else 503,
    )


STREAM = Reply(
    "Server-Sent Events: the followed jobs' current state (or, with Last-Event-ID, what was"
    " missed), then live events: progress_update, job_complete, error_notification,"
    " job_update; each `data` is JSON and each `id` a cursor to resume from",
    media_type="text/event-stream",
    schema={"type": "string"},
)
STREAM_REPLIES = {
    200: STREAM,
    401: error_reply("missing, invalid or expired token"),
    404: error_reply("no such job, or not yours"),
    503: error_reply(
        "too many streams opening at once (a reconnect storm): come back after Retry-After"
    ),
}
RESUME = Param("Last-Event-ID", {"type": "string"}, "resume after this event id", "header")
SSE_AUTH = ("bearer", "access_token")

STREAM_ROUTES = [
    Route(
        "/events",
        operation(
            "Live events of your jobs (admins: everyone's, or one user's)",
            {**STREAM_REPLIES, 403: error_reply("only an admin may follow another user's jobs")},
            params=(
                Param("job_id", {"type": "string"}, "only this job"),
                Param("user_id", {"type": "string"}, "admins only: that user's jobs"),
                RESUME,
            ),
            security=SSE_AUTH,
            tag="events",
        )(StreamEndpoint(job_in_path=False)),
        methods=["GET"],
    ),
    Route(
        "/jobs/{job_id}/events",
        operation(
            "Live events of one job",
            STREAM_REPLIES,
            params=(RESUME,),
            security=SSE_AUTH,
            tag="events",
        )(StreamEndpoint(job_in_path=True)),
        methods=["GET"],
    ),
]

ROUTES = [
    *STREAM_ROUTES,
    Route("/notifier/health", health, methods=["GET"]),
]
