"""The services vidpipe is made of, found by convention so ``vidpipe up`` picks each up.

A service ``NAME`` exists once ``services/NAME/main.py`` does. That module provides:

- ``async def run(settings: Settings, args: argparse.Namespace) -> None`` (runs until cancelled),
- ``PUBLIC: bool`` — True when it answers on the public origin (``PORT``); such a service also
  provides ``def create_app(settings: Settings) -> Starlette`` (its lifespan owns its clients),
  and ``vidpipe up`` serves every public app together on one origin (``vidpipe web``).
  A service that is not public serves ``/health`` and ``/metrics`` on ``OPS_PORT``,
- optionally ``def add_arguments(parser: argparse.ArgumentParser) -> None`` for its own flags
  and sub-commands (e.g. ``vidpipe projector rebuild``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import cast

from starlette.applications import Starlette

from services.core.config import Settings

SERVICE_NAMES: tuple[str, ...] = ("projector", "transcoder", "ingest", "notifier")

RunFn = Callable[[Settings, argparse.Namespace], Awaitable[None]]


@dataclass(frozen=True)
class Service:
    """A service module that exists in this checkout."""

    name: str
    module: ModuleType

    @property
    def public(self) -> bool:
        return bool(getattr(self.module, "PUBLIC", False))

    @property
    def run(self) -> RunFn:
        return cast(RunFn, self.module.run)

    def create_app(self, settings: Settings) -> Starlette:
        return cast(Starlette, self.module.create_app(settings))

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        hook = getattr(self.module, "add_arguments", None)
        if hook is not None:
            hook(parser)


def available() -> list[Service]:
    """Every service whose ``main`` module exists, in start-up order."""
    found = []
    for name in SERVICE_NAMES:
        if importlib.util.find_spec(f"services.{name}.main") is not None:
            found.append(Service(name, importlib.import_module(f"services.{name}.main")))
    return found
