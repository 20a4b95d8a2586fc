"""``vidpipe projector``: the read model service; ``vidpipe projector rebuild`` rebuilds it.

Not public: ``/health`` and ``/metrics`` are served on ``OPS_PORT``.
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``vidpipe projector [rebuild]``."""
    actions = parser.add_subparsers(dest="projector_action", metavar="ACTION")
    rebuild = actions.add_parser(
        "rebuild",
        help="rebuild jobs and processing_history from offset 0 into fresh tables, then swap",
    )
    rebuild.add_argument(
        "--force",
        action="store_true",
        help="swap in what the log gives even when it cannot reproduce the current tables",
    )


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """Run the projector until cancelled, or one action."""
    endpoints = resolve(settings)
    action = getattr(args, "projector_action", None)
    if action == "rebuild":
        from services.projector.rebuild import LogIncomplete, rebuild

        try:
            report = await rebuild(settings, endpoints, force=getattr(args, "force", False))
        except LogIncomplete as exc:
            raise SystemExit(f"vidpipe projector rebuild: refused: {exc}") from None
        print(report.summary())
        return
    from services.projector.bootstrap import run_projector

    tasks: dict[str, asyncio.Task[None]] = {}

    async def health() -> dict[str, Any]:
        dead = [name for name, task in tasks.items() if task.done()]
        return {"status": "error" if dead else "ok", "stopped": dead, "running": sorted(tasks)}

    ops = await serve_ops(settings.host, settings.ops_port, health, report_to=settings.port_report)
    log.info("projector ops on port %d", ops.port)
    try:
        async with asyncio.TaskGroup() as group:
            from services.projector.gauges import run_gauges

            tasks["projector"] = group.create_task(run_projector(settings, endpoints))
            tasks["gauges"] = group.create_task(run_gauges(settings, endpoints))
    finally:
        await ops.stop()
