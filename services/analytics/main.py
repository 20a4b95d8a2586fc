"""``vidpipe analytics``: the faust stream processor from ``video.jobs`` to ``video.analytics``.

Not public: ``/health`` and ``/metrics`` (its per-minute gauges) are served on ``OPS_PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from services.core.http.ops import serve_ops
from services.core.runtime.settings import Settings
from services.core.stack.discovery import resolve

log = logging.getLogger(__name__)


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """Run the analytics processor until cancelled."""
    from services.analytics.processor import run_analytics

    endpoints = resolve(settings)
    task: asyncio.Task[None] | None = None

    async def health() -> dict[str, Any]:
        dead = task is not None and task.done()
        return {"status": "error" if dead else "ok"}

    ops = await serve_ops(settings.host, settings.ops_port, health, report_to=settings.port_report)
    log.info("analytics ops on port %d", ops.port)
    try:
        task = asyncio.create_task(run_analytics(settings, endpoints), name="analytics")
        await task
    finally:
        if task is not None and not task.done():
            task.cancel()
        await ops.stop()
