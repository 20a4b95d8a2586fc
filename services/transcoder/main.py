"""``vidpipe transcoder``: one worker process of the ``transcoder`` consumer group."""

from __future__ import annotations

import argparse
import asyncio
import signal

from services.core.runtime.process import exit_after
from services.core.runtime.settings import Settings
from services.transcoder.bootstrap import Transcoder, TranscoderConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``vidpipe transcoder`` (everything else comes from the environment)."""
    defaults = TranscoderConfig()
    parser.add_argument(
        "--grace-period",
        type=float,
        default=defaults.grace_period_s,
        help="seconds in-flight jobs get to finish on SIGTERM (default 30)",
    )
    parser.add_argument(
        "--rebalance-grace",
        type=float,
        default=defaults.rebalance_grace_s,
        help="seconds in-flight jobs get when their partition is revoked",
    )
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=defaults.stall_timeout_s,
        help="fail (retryably) a job whose progress has not moved this long",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=defaults.max_attempts,
        help="attempts before a retryable failure becomes final (default 3)",
    )
    parser.add_argument(
        "--retry-delay",
        type=float,
        default=defaults.retry_base_delay_s,
        help="first retry delay in seconds; doubles per attempt (default 5)",
    )
    parser.add_argument(
        "--session-timeout-ms",
        type=int,
        default=defaults.session_timeout_ms,
        help="consumer group session timeout (default 10000)",
    )


def config_from_args(args: argparse.Namespace) -> TranscoderConfig:
    """The config for parsed flags; defaults for flags absent from ``args``."""
    defaults = TranscoderConfig()
    return TranscoderConfig(
        grace_period_s=getattr(args, "grace_period", defaults.grace_period_s),
        rebalance_grace_s=getattr(args, "rebalance_grace", defaults.rebalance_grace_s),
        stall_timeout_s=getattr(args, "stall_timeout", defaults.stall_timeout_s),
        max_attempts=getattr(args, "max_attempts", defaults.max_attempts),
        retry_base_delay_s=getattr(args, "retry_delay", defaults.retry_base_delay_s),
        session_timeout_ms=getattr(args, "session_timeout_ms", defaults.session_timeout_ms),
    )


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """Consume until SIGTERM/SIGINT, then shut down gracefully; while starting, stop at once."""
    transcoder = Transcoder(settings, config_from_args(args))
    stop = asyncio.Event()
    task = asyncio.current_task()
    assert task is not None

    def on_signal() -> None:
        if stop.is_set():
            return
        stop.set()
        if not transcoder.consuming:  # connecting, joining, seeking: nothing to finish
            task.cancel()
        exit_after(loop, transcoder.config.grace_period_s + 5, "the transcoder")

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await transcoder.serve(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
