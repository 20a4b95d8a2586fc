"""The ingest Starlette app: routes, middleware, and the clients its lifespan owns."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.http.errors import EXCEPTION_HANDLERS
from services.core.http.openapi import (
    Reply,
    attach_document,
    model_response,
    openapi_json,
    operation,
)
from services.core.http.paths import RefuseUnsafePaths
from services.core.http.security_headers import content_security_policy, media_origins
from services.core.kafka.clients import EventPublisher, wait_for_broker
from services.core.runtime.clock import Clock, system_clock
from services.core.runtime.settings import Settings
from services.core.stack.discovery import resolve
from services.ingest.accounts import routes as auth
from services.ingest.admin import invites
from services.ingest.admin import routes as admin
from services.ingest.bootstrap import bootstrap
from services.ingest.dependencies import endpoint
from services.ingest.http.docs import asyncapi_yaml, docs_asset, docs_page
from services.ingest.http.middleware import RequestContext
from services.ingest.http.ratelimit import RateLimiter
from services.ingest.http.resources import Health, Readiness
from services.ingest.http.tus_protocol import TUS_REQUEST_HEADERS, TUS_RESPONSE_HEADERS
from services.ingest.jobs import bulk_routes as bulk
from services.ingest.jobs import routes as jobs
from services.ingest.media import routes as media
from services.ingest.uploads import tus_routes as tus
from services.ingest.uploads.routes import upload


@operation("Liveness", {200: Reply("ok", Health)}, tag="ops")
async def health(request: Request) -> Response:
    return model_response(Health(status="ok"))


@operation(
    "Readiness: PostgreSQL and the broker reachable",
    {200: Reply("ready", Readiness), 503: Reply("not ready: see checks", Readiness)},
    tag="ops",
)
@endpoint
async def ready(request: Request, engine: AsyncEngine, settings: Settings) -> Response:
    checks: dict[str, str] = {}
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["postgres"] = "ok"
    except Exception as exc:  # any failure means "not ready"; say which
        checks["postgres"] = f"unavailable: {type(exc).__name__}"
    try:
        endpoints = resolve(settings)
        await wait_for_broker(
            endpoints.kafka_bootstrap_servers, 2.0, security=endpoints.kafka_security
        )
        checks["kafka"] = "ok"
    except Exception as exc:
        checks["kafka"] = f"unavailable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    readiness = Readiness(status="ok" if ok else "unavailable", checks=checks)
    return model_response(readiness, status_code=200 if ok else 503)


def create_app(
    settings: Settings,
    *,
    publisher: EventPublisher | None = None,
    clock: Clock = system_clock,
) -> Starlette:
    """The public API; clients are created in the lifespan, never at import time (``publisher``
    and ``clock`` replace the Kafka publisher and the system clock in the fast tests)."""
    limiter = RateLimiter(
        settings.rate_limit_per_minute,
        settings.user_rate_limit_per_minute,
        settings.auth_rate_limit_per_minute,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with bootstrap(settings, limiter, publisher=publisher, clock=clock) as deps:
            app.state.dependencies = deps
            yield

    routes = [
        *auth.routes,
        Route("/upload", upload, methods=["POST"]),
        *tus.routes,
        *bulk.routes,
        *jobs.routes,
        *admin.routes,
        *invites.routes,
        *media.routes,
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs_page, methods=["GET"]),
        Route("/docs/{asset}", docs_asset, methods=["GET"], include_in_schema=False),
        Route("/asyncapi.yaml", asyncapi_yaml, methods=["GET"]),
    ]
    middleware = [
        Middleware(
            RequestContext,
            limiter=limiter,
            csp=content_security_policy(
                media_origins(settings.storage_url, settings.s3_endpoint_url)
            ),
        ),
        Middleware(RefuseUnsafePaths),  # a NUL in a path: 404 before any route or file lookup
        Middleware(
            media.MediaCors,  # the API's own CORS below; any origin for media URLs
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-Request-ID",
                "Last-Event-ID",
                "X-Requested-With",
                *TUS_REQUEST_HEADERS,
            ],
            expose_headers=["Location", "X-Request-ID", "Retry-After", *TUS_RESPONSE_HEADERS],
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
    attach_document(app, app.routes)  # alone; on a shared origin the composer widens it
    return app
