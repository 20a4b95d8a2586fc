"""Cross-cutting HTTP behaviour as pure ASGI middleware (request bodies stay streamed)."""

from __future__ import annotations

import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.http.errors import ApiError, error_response
from services.core.http.security_headers import CSP, add_security_headers
from services.core.runtime.logs import correlation_scope
from services.core.runtime.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS
from services.ingest.http.ratelimit import RateLimiter

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContext:
    """``X-Request-ID`` in and out, correlation id for logs and events, security headers,
    per-address rate limit and request metrics."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, csp: str = CSP) -> None:
        self.app = app
        self.limiter = limiter
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if REQUEST_ID.match(incoming) else str(uuid.uuid4())
        started = time.perf_counter()
        status = 500
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                add_security_headers(headers, https=https, csp=self.csp)
            await send(message)

        with correlation_scope(request_id):
            try:
                client = scope.get("client")
                await self.limiter.check(
                    f"addr:{client[0] if client else '?'}", self.limiter.per_address
                )
                await self.app(scope, receive, send_with_headers)
            except ApiError as exc:
                await error_response(exc.status, exc.code, exc.message, exc.headers)(
                    scope, receive, send_with_headers
                )
            finally:
                route = scope.get("route")
                template = getattr(route, "path", "unmatched")
                HTTP_REQUESTS.labels(template, scope.get("method", ""), str(status)).inc()
                HTTP_REQUEST_SECONDS.labels(template).observe(time.perf_counter() - started)
