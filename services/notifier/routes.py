"""HTTP endpoints: ``GET /events``, ``GET /jobs/{job_id}/events`` and the notifier's ops routes.

Everything that can refuse a stream (a bad token, someone else's job) answers with a JSON
error before the stream opens; once it is open, only the stream itself talks.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from services.core.metrics import metrics_endpoint
from services.core.tokens import InvalidToken, Principal, bearer_token, verify_access_token
from services.notifier import cursor
from services.notifier.metrics import CONNECTED_CLIENTS_METRIC
from services.notifier.response import LiveEventSource
from services.notifier.stream import Runtime
from services.notifier.subscriber import Subscriber


class Refusal(Exception):
    """An answer other than a stream, rendered as ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        body = {"error": {"code": self.code, "message": self.message}}
        return JSONResponse(body, status_code=self.status, headers=headers)


def authenticate(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer`` or ``?access_token=`` (EventSource sends no
    headers)."""
    token = bearer_token(request.headers.get("authorization"))
    token = token or request.query_params.get("access_token")
    if not token:
        raise Refusal(401, "unauthorized", "an access token is required")
    try:
        return verify_access_token(request.app.state.secret, token)
    except InvalidToken:
        raise Refusal(401, "unauthorized", "the access token is invalid or expired") from None


async def _subscriber(request: Request, runtime: Runtime, job_id: str | None) -> Subscriber:
    principal = authenticate(request)
    limit = runtime.config.queue_size
    if job_id is not None:
        owner = await runtime.reads.job_owner(job_id)
        if owner is None or (owner != principal.user_id and not principal.is_admin):
            raise Refusal(404, "not_found", "job not found")  # existence never leaks
        return Subscriber(job_id=job_id, user_id=None, limit=limit)
    user_id = request.query_params.get("user_id")
    if not principal.is_admin:
        if user_id not in (None, principal.user_id):
            raise Refusal(403, "forbidden", "only an admin may follow another user's jobs")
        user_id = principal.user_id
    return Subscriber(job_id=None, user_id=user_id, limit=limit)


async def _open_stream(request: Request, job_id: str | None) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        sub = await _subscriber(request, runtime, job_id)
    except Refusal as refusal:
        return refusal.response()
    last_id = request.headers.get("last-event-id")
    resume_from = cursor.decode(last_id, runtime.hub.layout) if last_id else None
    return LiveEventSource(runtime, sub, resume_from)


class StreamEndpoint:
    """A stream route as a plain ASGI app: Starlette calls it without ``request_response``
    and its exception wrappers, whose frames would stay alive as long as the stream."""

    def __init__(self, job_in_path: bool) -> None:
        self.job_in_path = job_in_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if self.job_in_path:  # GET /jobs/{job_id}/events: every event of one job
            job_id = request.path_params["job_id"]
        else:  # GET /events: every event of the caller's jobs (admin: all, or ?user_id=)
            job_id = request.query_params.get("job_id")
        response = await _open_stream(request, job_id)
        del request  # not kept alive for the stream's lifetime
        await response(scope, receive, send)


async def health(request: Request) -> Response:
    """200 while the fan-out consumer runs, else 503."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    body: dict[str, Any] = {"status": "starting"}
    if runtime is not None:
        body = {
            "status": "ok" if runtime.hub.healthy else "error",
            "clients": int(REGISTRY.get_sample_value(CONNECTED_CLIENTS_METRIC) or 0),
            "position": cursor.encode(runtime.hub.position),
        }
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


STREAM_ROUTES = [
    Route("/events", StreamEndpoint(job_in_path=False), methods=["GET"]),
    Route("/jobs/{job_id}/events", StreamEndpoint(job_in_path=True), methods=["GET"]),
]

ROUTES = [
    *STREAM_ROUTES,
    Route("/notifier/health", health, methods=["GET"]),
    Route("/notifier/metrics", metrics_endpoint, methods=["GET"]),
]
