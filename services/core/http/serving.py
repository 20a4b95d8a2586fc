"""Serve one process's ASGI app with uvicorn until SIGINT/SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from sse_starlette.sse import AppStatus

from services.core.http.ops import bind
from services.core.runtime import heap

BACKLOG = 4096  # the kernel caps it at net.core.somaxconn


class _Server(uvicorn.Server):
    """uvicorn without its signal capture (it re-raises signals after shutdown), and with the
    garbage collector settled once the app has started (``services.core.runtime.heap``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            heap.settle()


async def serve(
    app: object,
    host: str,
    port: int,
    *,
    grace_s: int = 10,
    report_to: Path | None = None,
    forwarded_allow_ips: str = "",
) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM, then shut down gracefully.

    The port is bound before the app's lifespan starts (``OSError`` when it is taken) and, with
    ``report_to``, reported there at once (``services.core.runtime.ports``).
    ``X-Forwarded-For``/``-Proto`` are believed only from ``forwarded_allow_ips`` (the
    ``FORWARDED_ALLOW_IPS`` setting; empty: from nobody, not uvicorn's default of loopback,
    which would let any local client of ``vidpipe up`` name its own address).
    """
    # clients reconnecting while the app starts wait in the kernel's queue, not refused
    sock = bind(host, port, report_to, backlog=BACKLOG)
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        backlog=BACKLOG,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=grace_s,
        lifespan="on",
        proxy_headers=bool(forwarded_allow_ips.strip()),
        forwarded_allow_ips=forwarded_allow_ips.strip() or None,
    )
    server = _Server(config)

    def stop() -> None:
        server.should_exit = True
        AppStatus.should_exit = True  # open SSE streams end now instead of holding shutdown

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        raise RuntimeError(f"could not serve on {host}:{port}")
