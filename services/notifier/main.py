"""``vidpipe notifier``: live job events to browsers over Server-Sent Events.

Public: under ``vidpipe up`` its routes share the API's origin (``vidpipe web``). Alone,
it serves them on ``PORT`` and ``/health`` + ``/metrics`` on ``OPS_PORT``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from services.core.http.auth import VerifiedTokens
from services.core.http.ops import serve_ops
from services.core.http.serving import serve
from services.core.runtime.settings import Settings
from services.notifier.bootstrap import bootstrap
from services.notifier.routes import ROUTES, STREAM_ROUTES
from services.notifier.settings import NotifierConfig


class NotifierApp(Starlette):
    """Starlette, with stream requests sent straight to their route.

    Starlette's middleware stack (error and exception middleware, router, wrappers) adds
    ~5 KiB of coroutine frames that live as long as each stream; stream endpoints answer
    their own errors, so they skip it. Every other request goes through it as usual.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in STREAM_ROUTES:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope["app"] = self
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, config: NotifierConfig | None = None) -> Starlette:
    """The notifier's app; its lifespan owns the fan-out consumer and the database engine.

    ``config`` defaults to the ``NOTIFIER_*`` variables of the process.
    """
    config = config or NotifierConfig.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with bootstrap(settings, config) as deps:
            app.state.dependencies = deps
            yield

    app = NotifierApp(routes=ROUTES, lifespan=lifespan)
    app.state.secret = settings.verification_secrets()
    app.state.verified_tokens = VerifiedTokens()
    return app


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """Serve the notifier alone (production: behind nginx, one or more instances)."""
    app = create_app(settings)

    async def health() -> dict[str, Any]:
        deps = getattr(app.state, "dependencies", None)
        if deps is None:
            return {"status": "starting"}
        return {"status": "ok" if deps.hub.healthy else "error"}

    ops = await serve_ops(settings.host, settings.ops_port, health, report_to=settings.port_report)
    try:
        await serve(
            app, settings.host, settings.port, forwarded_allow_ips=settings.forwarded_allow_ips
        )
    finally:
        await ops.stop()
