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

from schemas.topics import JOBS, PROGRESS
from services.core.access.disabled import DisabledAccounts
from services.core.db.engine import create_engine
from services.core.http.auth import VerifiedTokens
from services.core.http.ops import serve_ops
from services.core.http.serving import serve
from services.core.runtime.settings import Settings
from services.core.stack.discovery import resolve
from services.notifier.admission import Admission
from services.notifier.hub import Hub
from services.notifier.queries import ReadModel
from services.notifier.resume import LogReader
from services.notifier.routes import ROUTES, STREAM_ROUTES
from services.notifier.settings import NotifierConfig
from services.notifier.stream import Runtime


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
        endpoints = resolve(settings)
        engine = create_engine(endpoints.database_url, pool_size=5)
        reads = ReadModel(engine, snapshot_limit=config.snapshot_limit)
        topics = (settings.topic(JOBS.name), settings.topic(PROGRESS.name))
        disabled = DisabledAccounts(engine)
        hub = Hub(
            endpoints.kafka_bootstrap_servers,
            topics,
            reads,
            ring_size=config.ring_size,
            queue_size=config.queue_size,
            heartbeat_s=config.heartbeat_s,
            seed_s=config.seed_s,
            disabled=disabled,
        )
        log_reader = LogReader(endpoints.kafka_bootstrap_servers, config.replay_timeout_s)
        admission = Admission(config.max_opening, config.max_waiting, config.admission_wait_s)
        try:
            await disabled.start()
            app.state.disabled = disabled
            await hub.start()
            app.state.runtime = Runtime(hub, reads, config, log_reader, admission, topics)
            yield
        finally:
            await log_reader.stop()
            await hub.stop()
            await disabled.stop()
            await engine.dispose()

    app = NotifierApp(routes=ROUTES, lifespan=lifespan)
    app.state.secret = settings.verification_secrets()
    app.state.verified_tokens = VerifiedTokens()
    return app


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """Serve the notifier alone (production: behind nginx, one or more instances)."""
    app = create_app(settings)

    async def health() -> dict[str, Any]:
        runtime = getattr(app.state, "runtime", None)
        if runtime is None:
            return {"status": "starting"}
        return {"status": "ok" if runtime.hub.healthy else "error"}

    ops = await serve_ops(settings.host, settings.ops_port, health, report_to=settings.port_report)
    try:
        await serve(app, settings.host, settings.port)
    finally:
        await ops.stop()
