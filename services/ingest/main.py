"""``vidpipe ingest``: the public HTTP API on ``HOST:PORT``."""

from __future__ import annotations

import argparse

from starlette.applications import Starlette

from services.core.http.serving import serve
from services.core.runtime.settings import Settings
from services.ingest.app import create_app as _create_app


def create_app(settings: Settings) -> Starlette:
    return _create_app(settings)


async def run(settings: Settings, args: argparse.Namespace) -> None:
    await serve(create_app(settings), settings.host, settings.port, report_to=settings.port_report)
