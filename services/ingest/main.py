"""``vidpipe ingest``: the public HTTP API on ``HOST:PORT``, ``/metrics`` on ``OPS_PORT`` only.

``/health`` and ``/ready`` answer on both ports (Kubernetes probes the public one)."""

from __future__ import annotations

import argparse
from typing import Any

from starlette.applications import Starlette

from services.core.http.ops import serve_ops
from services.core.http.serving import serve
from services.core.runtime.settings import Settings
from services.ingest.app import create_app as _create_app


def create_app(settings: Settings) -> Starlette:
    return _create_app(settings)


async def run(settings: Settings, args: argparse.Namespace) -> None:
    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    ops = await serve_ops(settings.host, settings.ops_port, health)
    try:
        await serve(
            create_app(settings),
            settings.host,
            settings.port,
            report_to=settings.port_report,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
    finally:
        await ops.stop()
