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
from services.notifier.admission import Admission, jittered
from services.notifier.dependencies import Dependencies
from services.notifier.metrics import (
    ADMISSION_WAITING,
    CONNECTED_CLIENTS_METRIC,
    REPLAYS,
    STREAMS_LIMITED,
    STREAMS_REFUSED,
)
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


def _retry_after(deps: Dependencies) -> dict[str, str]:
    """A jittered ``Retry-After``: refused clients come back spread out."""
    config = deps.config
    seconds = jittered(config.retry_ms, config.retry_jitter_ms) / 1000
    return {"Retry-After": str(max(1, round(seconds)))}


def overloaded(
    deps: Dependencies,
    message: str = "too many streams are opening; retry after the Retry-After delay",
) -> Response:
    """503 with a jittered ``Retry-After`` (a storm of set-ups, or of resumes from the log)."""
    STREAMS_REFUSED.inc()
    return error_response(503, "overloaded", message, _retry_after(deps))


def too_many_streams(deps: Dependencies, per: Literal["user", "address"]) -> Response:
    """429 with ``Retry-After``: this account (or client address) holds its share of streams."""
    STREAMS_LIMITED.labels(per).inc()
    limit = deps.per_user.limit if per == "user" else deps.per_address.limit
    who = "this account" if per == "user" else "this client address"
    message = (
        f"{who} already has {limit} open event streams (the most allowed); close one, or retry"
        " after the Retry-After delay"
    )
    return error_response(429, "too_many_streams", message, _retry_after(deps))


async def _open_stream(request: Request, job_id: str | None) -> Response:
    deps: Dependencies = request.app.state.dependencies
    try:
        sub = await _subscriber(request, deps, job_id)
    except ApiError as refusal:  # answered here: streams skip Starlette's exception middleware
        return error_response(refusal.status, refusal.code, refusal.message, refusal.headers)
    last_id = request.headers.get("last-event-id")
    resume_from = cursor.decode(last_id, deps.hub.layout) if last_id else None
    return LiveEventSource(deps, sub, resume_from)


def client_address(scope: Scope) -> str:
    """The caller's address (the proxy's idea of it behind ``FORWARDED_ALLOW_IPS``)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


class StreamEndpoint:
    """A stream route as a plain ASGI app: Starlette calls it without ``request_response``
    and its exception wrappers, whose frames would stay alive as long as the stream.

    What a stream may take, in order: one of its address's streams (``per_address``), a
    set-up slot (``admission``), one of its user's streams (``per_user``) and, for a resume
    that must read the log, a slot of ``replays`` in place of its set-up slot.
    """

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
        address = client_address(scope)
        if not deps.per_address.acquire(address):  # before any work: one address, its share
            self._count(scope, 429, started)
            await too_many_streams(deps, "address")(scope, receive, send)
            return
        try:
            await self._admit(scope, receive, send, deps, started)
        finally:
            deps.per_address.release(address)

    async def _admit(
        self, scope: Scope, receive: Receive, send: Send, deps: Dependencies, started: float
    ) -> None:
        admission = deps.admission
        ADMISSION_WAITING.set(admission.waiting + 1)
        admitted = await admission.enter()  # a storm waits here, bounded, or is refused
        ADMISSION_WAITING.set(admission.waiting)
        if not admitted:
            self._count(scope, 503, started)
            await overloaded(deps)(scope, receive, send)
            return
        gate: Admission | None = admission  # the slot held now, if any
        user: str | None = None  # whose stream count this one holds
        try:
            try:
                request = Request(scope, receive)
                if self.job_in_path:  # GET /jobs/{job_id}/events: every event of one job
                    job_id = request.path_params["job_id"]
                else:  # GET /events: every event of the caller's jobs (admin: all, or ?user_id=)
                    job_id = request.query_params.get("job_id")
                response = await _open_stream(request, job_id)
                del request  # not kept alive for the stream's lifetime
                if isinstance(response, LiveEventSource):
                    if not deps.per_user.acquire(response.principal):
                        response = too_many_streams(deps, "user")
                    else:
                        user = response.principal
                        if self._needs_log(deps, response):
                            admission.leave()  # a replay does not hold a set-up slot
                            gate = None
                            if await deps.replays.enter():
                                gate = response.gate = deps.replays
                            else:
                                response = overloaded(
                                    deps,
                                    "too many streams are resuming from the log; retry after"
                                    " the Retry-After delay",
                                )
            except Exception:
                if gate is not None:
                    gate.leave()
                self._count(scope, 500, started)  # uvicorn answers it
                raise
            except BaseException:  # cancelled: the client left while its set-up waited
                if gate is not None:
                    gate.leave()
                raise
            if isinstance(response, LiveEventSource):
                self._count(scope, 200, started)
            else:
                if gate is not None:
                    gate.leave()  # a refusal: the slot is free at once
                self._count(scope, response.status_code, started)
            await response(scope, receive, send)  # a stream leaves once its opening is sent
        finally:
            if user is not None:
                deps.per_user.release(user)

    @staticmethod
    def _needs_log(deps: Dependencies, stream: LiveEventSource) -> bool:
        """Whether the resume must read the log: its cursor is behind the ring, but not by more
        than ``replay_max_records``. Further back (``1::``, an id from last month) the stream
        starts afresh, with the current state: the log is never read from its start."""
        if stream.resume_from is None:
            return False
        behind = cursor.behind(stream.resume_from, deps.hub.coverage)
        if behind > deps.config.replay_max_records:
            REPLAYS.labels("too_old").inc()
            stream.resume_from = None
            return False
        return behind > 0


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
    429: error_reply(
        "this account or client address already holds its most open streams: come back"
        " after Retry-After"
    ),
    503: error_reply(
        "too many streams opening (or resuming from the log) at once, a reconnect storm:"
        " come back after Retry-After"
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
