"""HTTP endpoints: ``GET /events``, ``GET /jobs/{job_id}/events`` and the notifier's ops routes.

Everything that can refuse a stream (a bad token, someone else's job) answers with a JSON
error before the stream opens; once it is open, only the stream itself talks.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.core.metrics import metrics_endpoint
from services.core.tokens import InvalidToken, Principal, bearer_token, verify_access_token
from services.notifier import cursor
from services.notifier.hub import Subscriber
from services.notifier.metrics import CONNECTED_CLIENTS_METRIC
from services.notifier.stream import Runtime, event_stream


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
    return EventSourceResponse(
        event_stream(runtime, sub, resume_from),
        ping=runtime.config.heartbeat_s,
        send_timeout=runtime.config.send_timeout_s,
    )


async def all_events(request: Request) -> Response:
    """Every event of the caller's jobs (admin: of all jobs, or ``?user_id=``)."""
    return await _open_stream(request, request.query_params.get("job_id"))


async def job_events(request: Request) -> Response:
    """Every event of one job."""
    return await _open_stream(request, request.path_params["job_id"])


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


ROUTES = [
    Route("/events", all_events, methods=["GET"]),
    Route("/jobs/{job_id}/events", job_events, methods=["GET"]),
    Route("/notifier/health", health, methods=["GET"]),
    Route("/notifier/metrics", metrics_endpoint, methods=["GET"]),
]
