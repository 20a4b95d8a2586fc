"""One public origin for several HTTP services (what ``vidpipe up`` runs as ``vidpipe web``).

Each public service builds its own Starlette app with its own middleware and lifespan;
``compose`` dispatches every request to the first app with a route that matches its path
(the first app answers everything else, e.g. its 404), and runs all lifespans together.
With a ``WebApp`` (``services.cli.webapp``), the built browser app answers the requests it owns
(app routes, its assets) first; see there for the rule that keeps API routes first.
The origin's ``/openapi.json`` (served by whichever app has that route) describes every app's
routes, in the same first-match order. ``/metrics`` is never on the origin: ``serve_web`` serves
it (with ``/health``) on ``OPS_PORT``, reported beside the public port's report.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from services.cli.registry import SERVICES
from services.cli.webapp import WebApp
from services.core.http.openapi import attach_document
from services.core.http.ops import serve_ops
from services.core.http.paths import RefuseUnsafePaths, unsafe_path
from services.core.http.security_headers import content_security_policy, media_origins
from services.core.http.serving import serve
from services.core.runtime.ports import ops_report
from services.core.runtime.settings import Settings


class ComposedApp:
    """An ASGI app that routes to one of several Starlette apps."""

    def __init__(self, apps: Sequence[Starlette], web: WebApp | None = None) -> None:
        if not apps:
            raise ValueError("compose needs at least one app")
        self.apps = list(apps)
        self.web = web
        self.fallback = RefuseUnsafePaths(self.apps[0])

    def app_for(self, scope: Scope) -> ASGIApp:
        if unsafe_path(scope.get("path", "")):  # neither a route nor a build file: the 404
            return self.fallback
        partial = False
        for app in self.apps:
            for route in app.routes:
                match, _ = route.matches(scope)
                if match == Match.FULL:
                    if self.web is not None and self.web.answers(scope, api_answers=True):
                        return self.web
                    return app
                partial = partial or match == Match.PARTIAL  # the API's path, another method
        if self.web is not None and self.web.answers(scope, api_answers=partial):
            return self.web
        return self.fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.app_for(scope)(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with contextlib.AsyncExitStack() as stack:
            try:
                for app in self.apps:
                    await stack.enter_async_context(_lifespan_of(app))
            except Exception as exc:  # report, as Starlette does, instead of hanging uvicorn
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


@contextlib.asynccontextmanager
async def _lifespan_of(app: Starlette) -> AsyncIterator[None]:
    async with app.router.lifespan_context(app):
        yield


def compose(apps: Sequence[Starlette], web: WebApp | None = None) -> ComposedApp:
    composed = ComposedApp(apps, web)
    origin = [route for app in composed.apps for route in app.routes]
    for app in composed.apps:
        attach_document(app, origin)
    return composed


async def serve_web(settings: Settings) -> None:
    """``vidpipe web``: every public service on ``PORT``, ``/health`` + ``/metrics`` on
    ``OPS_PORT`` (under ``up``: reported to ``ops_report(VIDPIPE_PORT_REPORT)``)."""
    public = [s.create_app(settings) for s in SERVICES if s.public]
    csp = content_security_policy(media_origins(settings.storage_url, settings.s3_endpoint_url))
    app = compose(public, WebApp(settings.web_dist, csp))

    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    report = settings.port_report
    ops = await serve_ops(
        settings.host, settings.ops_port, health, report_to=report and ops_report(report)
    )
    try:
        await serve(
            app,
            settings.host,
            settings.port,
            report_to=report,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
    finally:
        await ops.stop()
