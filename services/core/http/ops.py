"""The HTTP side of metrics: ``/metrics`` responses and the ops server (``/health``, ``/metrics``)
of services without a public app, on a socket bound (and reported to ``up``) here."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.core.http.openapi import Reply, operation
from services.core.runtime.ports import write_report

# What /health answers: a dict, with "status" not "ok" meaning unhealthy (503).
HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


def metrics_response(registry: CollectorRegistry = REGISTRY) -> Response:
    """The registry in the Prometheus text format, as a Starlette response."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@operation(
    "Prometheus metrics",
    {200: Reply("the text exposition format", media_type="text/plain", schema={"type": "string"})},
    tag="ops",
)
async def metrics_endpoint(request: Request) -> Response:
    """Starlette endpoint for ``Route("/metrics", metrics_endpoint)`` on the default registry."""
    return metrics_response()


def ops_app(health: HealthCheck, registry: CollectorRegistry = REGISTRY) -> Starlette:
    """A Starlette app with ``/health``, ``/ready`` and ``/metrics`` only.

    ``/health`` answers 200 with the check's dict, or 503 when the check raises or its
    ``status`` is present and not ``"ok"``. ``/ready`` answers the same (Kubernetes probes
    readiness there, liveness on ``/health``: infra/k8s).
    """

    async def health_endpoint(request: Request) -> Response:
        try:
            body = await health()
        except Exception as exc:  # a failing check is an unhealthy answer, not a 500
            return JSONResponse({"status": "error", "error": str(exc)}, status_code=503)
        healthy = body.get("status", "ok") == "ok"
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def metrics(request: Request) -> Response:
        return metrics_response(registry)

    return Starlette(
        routes=[
            Route("/health", health_endpoint),
            Route("/ready", health_endpoint),
            Route("/metrics", metrics),
        ]
    )


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the service that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OpsServer:
    """A running ops server; ``port`` is the bound port (useful when asked for port 0)."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], port: int) -> None:
        self._server = server
        self._task = task
        self.port = port

    async def stop(self) -> None:
        """Stop accepting connections, finish in-flight requests and return."""
        self._server.should_exit = True
        await self._task


async def serve_ops(
    host: str,
    port: int,
    health: HealthCheck,
    registry: CollectorRegistry = REGISTRY,
    *,
    report_to: Path | None = None,
) -> OpsServer:
    """Serve ``/health`` and ``/metrics`` on ``host:port`` in the background until ``stop()``.

    Raises ``OSError`` at once when the address cannot be bound. With ``report_to``, the bound
    port is reported there (``services.core.runtime.ports``) as soon as it is bound.
    """
    sock = bind(host, port, report_to)
    config = uvicorn.Config(
        ops_app(health, registry),
        log_config=None,  # records go through the root logger, i.e. our JSON handler
        access_log=False,  # scrapes every few seconds would drown the log
        lifespan="off",
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"ops-server:{port}")
    try:
        while not server.started:
            if task.done():
                task.result()  # re-raises what stopped it
                raise RuntimeError(f"ops server on {host}:{port} stopped during start-up")
            await asyncio.sleep(0.01)
    except BaseException:  # cancelled (SIGTERM) or failed while starting: leave nothing behind
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await task
        sock.close()
        raise
    return OpsServer(server, task, sock.getsockname()[1])


def bind(
    host: str, port: int, report_to: Path | None = None, backlog: int | None = None
) -> socket.socket:
    """A listening socket on ``host:port`` (0: any free port), its port reported if asked.

    Binding here makes a busy port an OSError for the caller, not a sys.exit inside uvicorn.
    ``backlog``: connections the kernel holds before the server accepts them (Python's
    default is 128; a reconnect storm arriving during start-up needs more).
    """
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    if report_to is not None:
        write_report(report_to, int(sock.getsockname()[1]))
    return sock
