"""Process helpers every vidpipe process may need: dying with the parent, ports, bounded stops."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import resource
import signal
import socket

PR_SET_PDEATHSIG = 1
log = logging.getLogger(__name__)


def die_with_parent() -> None:
    """``preexec_fn`` for children: the kernel sends SIGTERM when their parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def limit_resources(memory_bytes: int, cpu_seconds: int | None = None) -> None:
    """``preexec_fn`` of a child that parses untrusted media (ffmpeg, the probe): cap its address
    space (RLIMIT_AS) and CPU seconds (RLIMIT_CPU: SIGXCPU at the limit, SIGKILL 5 s later),
    make it the OOM killer's first choice over its parent, and let it die with its parent."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if cpu_seconds is not None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    with contextlib.suppress(OSError):  # raising one's own score needs no privilege
        with open("/proc/self/oom_score_adj", "w") as score:
            score.write("1000")
    die_with_parent()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def exit_after(loop: asyncio.AbstractEventLoop, delay_s: float, what: str) -> asyncio.TimerHandle:
    """Arm a last resort once a stop began: exit with code 1 if still running after ``delay_s``.

    A graceful stop must be bounded even when its broker or database went away with
    ``vidpipe up`` (PR_SET_PDEATHSIG), where closing a client can wait on long timeouts.
    """

    def give_up() -> None:
        log.error("%s did not stop within %.0fs; exiting now", what, delay_s)
        logging.shutdown()
        os._exit(1)

    return loop.call_later(delay_s, give_up)
