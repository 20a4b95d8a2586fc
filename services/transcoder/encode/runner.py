"""Running ffmpeg as a child process and reading its ``-progress`` output.

The child is killed (SIGKILL) whenever the awaiting task is cancelled, so cancelling a job's
task stops its ffmpeg at once; it also gets SIGTERM if the worker process dies. It runs under
:class:`FfmpegLimits`: address space (RLIMIT_AS) and CPU seconds (RLIMIT_CPU, SIGXCPU at the
limit), so one hostile source cannot take the worker's machine with it.
"""

from __future__ import annotations

import asyncio
import collections
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.core.media.limits import OUT_OF_MEMORY_SIGNS
from services.core.runtime.process import limit_resources
from services.transcoder.encode.command_lines import Command

_STDERR_LINES = 20


SIGNALLED_EXIT = 255  # ffmpeg's exit status after a signal it caught


@dataclass(frozen=True)
class FfmpegLimits:
    """Bounds of every ffmpeg child: codec/filter threads, address space, CPU seconds."""

    threads: int = 2
    memory_bytes: int = 3 * 1024**3
    cpu_seconds: int = 24 * 3600

    def apply(self) -> None:
        """``preexec_fn``: set the rlimits in the child, and let it die with its parent."""
        limit_resources(self.memory_bytes, self.cpu_seconds)

    def exceeded(self, returncode: int, signs: set[str]) -> str | None:
        """Which limit a failed run hit, in words, or None if it was not a limit.
        ``signs``: "memory" when its stderr said an allocation or a thread failed, "signal"
        when ffmpeg stopped on a signal it caught (SIGXCPU; we only ever send SIGKILL)."""
        # ffmpeg catches SIGXCPU: before it has set up its outputs it says "Immediate exit
        # requested" (an error line); after, it stops quietly (an info line) with status 255,
        # which it uses for nothing else; and the transcoder never sends a catchable signal.
        caught = "signal" in signs or (returncode == SIGNALLED_EXIT and "memory" not in signs)
        if returncode == -signal.SIGXCPU or caught:
            return f"ffmpeg exceeded the CPU time limit ({self.cpu_seconds}s, FFMPEG_CPU_SECONDS)"
        if "memory" in signs or returncode in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS):
            mib = self.memory_bytes // 1024**2
            return f"ffmpeg exceeded the memory limit ({mib} MiB, FFMPEG_MEMORY)"
        return None


@dataclass(frozen=True)
class Tick:
    """One ``-progress`` block: media seconds written so far, encoding fps and speed."""

    out_time_s: float | None
    fps: float | None
    speed: float | None
    done: bool


class FfmpegFailed(Exception):
    """ffmpeg exited non-zero; ``killed`` when a signal ended it (not the input's fault),
    ``limit`` when it ran into one of its :class:`FfmpegLimits` (the input's fault)."""

    def __init__(self, returncode: int, stderr: str, limit: str | None = None) -> None:
        self.returncode = returncode
        self.limit = limit
        self.killed = returncode < 0 and limit is None
        self.stderr = stderr
        reason = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        super().__init__(limit or f"ffmpeg failed ({reason}): {stderr.strip()[-500:]}")


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().removesuffix("x"))
    except ValueError:  # "N/A" before the first frame
        return None
    return value


def parse_block(fields: dict[str, str]) -> Tick:
    """A tick from one block of ``key=value`` lines.

    ``out_time_us`` and (despite its name) ``out_time_ms`` are both microseconds; early values
    can be negative or ``N/A``, which mean "nothing written yet".
    """
    micros = _number(fields.get("out_time_us")) or _number(fields.get("out_time_ms"))
    seconds = None if micros is None else max(micros, 0.0) / 1_000_000
    fps = _number(fields.get("fps"))
    return Tick(
        out_time_s=seconds,
        fps=fps if fps else None,
        speed=_number(fields.get("speed")),
        done=fields.get("progress") == "end",
    )


OnTick = Callable[[Tick], Awaitable[None]]


async def run_ffmpeg(
    binary: str,
    command: Command,
    on_tick: OnTick | None = None,
    limits: FfmpegLimits | None = None,
) -> None:
    """Run ``command`` to completion under ``limits``, calling ``on_tick`` per progress block.

    Raises :class:`FfmpegFailed` on a non-zero exit; kills ffmpeg if cancelled.
    """
    limits = limits or FfmpegLimits()
    proc = await asyncio.create_subprocess_exec(
        binary,
        "-progress",
        "pipe:1",
        "-nostats",
        *command.args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=limits.apply,
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
    signs: set[str] = set()
    stderr_task = asyncio.create_task(_collect(proc.stderr, errors, signs))
    try:
        fields: dict[str, str] = {}
        async for raw in proc.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            fields[key] = value
            if key == "progress":
                if on_tick is not None:
                    await on_tick(parse_block(fields))
                fields = {}
        returncode = await proc.wait()
        await stderr_task
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.shield(proc.wait())
        stderr_task.cancel()
    if returncode != 0:
        stderr = "\n".join(errors)
        raise FfmpegFailed(returncode, stderr, limits.exceeded(returncode, signs))


async def _collect(
    stream: asyncio.StreamReader, into: collections.deque[str], signs: set[str]
) -> None:
    async for raw in stream:
        line = raw.decode(errors="replace").rstrip()
        into.append(line)
        if any(sign in line for sign in OUT_OF_MEMORY_SIGNS):  # wherever it was printed
            signs.add("memory")
        if "Immediate exit requested" in line:
            signs.add("signal")
