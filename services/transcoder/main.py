"""``vidpipe transcoder``: one worker process of the ``transcoder`` consumer group."""

from __future__ import annotations

import argparse
import asyncio
import signal

from services.core.runtime.declare import add_flags
from services.core.runtime.process import exit_after
from services.core.runtime.settings import Settings
from services.transcoder.bootstrap import Transcoder
from services.transcoder.settings import DECLARED, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``vidpipe transcoder``, from its declared settings (a flag beats its variable)."""
    add_flags(parser, DECLARED)


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
