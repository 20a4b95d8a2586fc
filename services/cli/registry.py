"""The services vidpipe is made of: an explicit registry, in start-up order.

Each entry names the module that runs the service. That module provides:

- ``async def run(settings: Settings, args: argparse.Namespace) -> None`` (runs until cancelled),
- for a public service (one that answers on the public origin, ``PORT``),
  ``def create_app(settings: Settings) -> Starlette`` (its lifespan owns its clients);
  ``vidpipe up`` serves every public app together on one origin (``vidpipe web``).
  A service that is not public serves ``/health`` and ``/metrics`` on ``OPS_PORT``,
- optionally ``def add_arguments(parser: argparse.ArgumentParser) -> None`` for its own flags
  and sub-commands (e.g. ``vidpipe projector rebuild``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import cast

from starlette.applications import Starlette

from services.core.runtime.settings import Settings

RunFn = Callable[[Settings, argparse.Namespace], Awaitable[None]]


@dataclass(frozen=True)
class Service:
    """One service: its command name, the module that runs it, and whether it is public."""

    name: str
    module_name: str
    public: bool

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(self.module_name)

    @property
    def run(self) -> RunFn:
        return cast(RunFn, self.module.run)

    def create_app(self, settings: Settings) -> Starlette:
        return cast(Starlette, self.module.create_app(settings))

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        hook = getattr(self.module, "add_arguments", None)
        if hook is not None:
            hook(parser)


SERVICES: tuple[Service, ...] = (
    Service("projector", "services.projector.main", public=False),
    Service("analytics", "services.analytics.main", public=False),
    Service("transcoder", "services.transcoder.main", public=False),
    Service("ingest", "services.ingest.main", public=True),
    Service("notifier", "services.notifier.main", public=True),
)
SERVICE_NAMES: tuple[str, ...] = tuple(s.name for s in SERVICES)
