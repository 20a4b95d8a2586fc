"""Running ffmpeg as a child process and reading its ``-progress`` output.

The child is killed (SIGKILL) whenever the awaiting task is cancelled, so cancelling a job's
task stops its ffmpeg at once; it also gets SIGTERM if the worker process dies. It runs under
:class:`FfmpegLimits`: address space (RLIMIT_AS), CPU seconds (RLIMIT_CPU, SIGXCPU at the
limit), the size of any file it writes (RLIMIT_FSIZE) and wall-clock time, the last two in
proportion to the media seconds the command encodes; so one hostile source cannot take the
worker's machine with it. A failure becomes a fixed :class:`Failure` (``failures.py``); the
raw stderr stays on the exception, for the log.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import resource
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.core.runtime.process import limit_resources
from services.transcoder.encode.command_lines import Command
from services.transcoder.encode.failures import (
    LIMIT_CODES,
    Bounds,
    Failure,
    classify,
    signs_in,
)

_STDERR_LINES = 20
_MIB = 1024**2
# Output bytes a run may write per media second, on top of a fixed allowance: 100 Mbit/s,
# several times any rung's rate, so only a runaway output ever meets it.
OUTPUT_BYTES_PER_SECOND = 100_000_000 // 8
OUTPUT_ALLOWANCE = 64 * _MIB


@dataclass(frozen=True)
class FfmpegLimits:
    """Bounds of every ffmpeg child: codec/filter threads, address space, CPU seconds, and
    the per-run budgets: wall-clock ``time_floor_s + time_factor`` x media seconds, and the
    largest file ``OUTPUT_ALLOWANCE`` + ``OUTPUT_BYTES_PER_SECOND`` x media seconds, at most
    ``max_output_bytes``."""

    threads: int = 2
    memory_bytes: int = 3 * 1024**3
    cpu_seconds: int = 24 * 3600
    time_factor: float = 30.0
    time_floor_s: float = 300.0
    max_output_bytes: int = 20 * 1024**3

    def bounds(self, media_seconds: float | None) -> Bounds:
        """The limits of one run that encodes ``media_seconds`` (None: unknown, floors only)."""
        seconds = max(media_seconds or 0.0, 0.0)
        file_bytes = OUTPUT_ALLOWANCE + int(OUTPUT_BYTES_PER_SECOND * seconds)
        return Bounds(
            memory_bytes=self.memory_bytes,
            cpu_seconds=self.cpu_seconds,
            wall_seconds=self.time_floor_s + self.time_factor * seconds,
            file_bytes=min(file_bytes, self.max_output_bytes),
        )

    def apply(self, file_bytes: int | None = None) -> None:
        """``preexec_fn``: set the rlimits in the child, and let it die with its parent."""
        limit_resources(self.memory_bytes, self.cpu_seconds)
        if file_bytes is not None:  # SIGXFSZ (or EFBIG) past it: no output fills the disk
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a limit's signal dumps no core


@dataclass(frozen=True)
class Tick:
    """One ``-progress`` block: media seconds written so far, encoding fps and speed."""

    out_time_s: float | None
    fps: float | None
    speed: float | None
    done: bool


class FfmpegFailed(Exception):
    """ffmpeg failed: ``failure`` says how, in fixed words; ``stderr`` is its raw last lines
    (server paths included: for the log only). ``killed`` when a signal ended it (not the
    input's fault), ``limit`` (the message) when it ran into one of its limits."""

    def __init__(self, returncode: int, stderr: str, failure: Failure) -> None:
        self.returncode = returncode
        self.stderr = stderr
        self.failure = failure
        self.limit = failure.message if failure.code in LIMIT_CODES else None
        self.killed = failure.code == "ffmpeg_killed"
        super().__init__(failure.message)


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

    Raises :class:`FfmpegFailed` on a non-zero exit or past the run's wall-clock budget;
    kills ffmpeg if cancelled.
    """
    limits = limits or FfmpegLimits()
    bounds = limits.bounds(command.media_seconds)
    proc = await asyncio.create_subprocess_exec(
        binary,
        "-progress",
        "pipe:1",
        "-nostats",
        *command.args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=functools.partial(limits.apply, bounds.file_bytes),
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
    signs: set[str] = set()
    stderr_task = asyncio.create_task(_collect(proc.stderr, errors, signs))
    timed_out = False
    try:
        try:
            async with asyncio.timeout(bounds.wall_seconds):
                await _follow(proc.stdout, on_tick)
                returncode = await proc.wait()
                await stderr_task
        except TimeoutError:
            timed_out = True
            proc.kill()
            returncode = await asyncio.shield(proc.wait())
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.shield(proc.wait())
        stderr_task.cancel()
    if returncode != 0 or timed_out:
        failure = classify(returncode, signs, bounds, timed_out=timed_out)
        raise FfmpegFailed(returncode, "\n".join(errors), failure)


async def _follow(stdout: asyncio.StreamReader, on_tick: OnTick | None) -> None:
    fields: dict[str, str] = {}
    async for raw in stdout:
        key, _, value = raw.decode(errors="replace").strip().partition("=")
        fields[key] = value
        if key == "progress":
            if on_tick is not None:
                await on_tick(parse_block(fields))
            fields = {}


async def _collect(
    stream: asyncio.StreamReader, into: collections.deque[str], signs: set[str]
) -> None:
    async for raw in stream:
        line = raw.decode(errors="replace").rstrip()
        into.append(line)
        signs |= signs_in(line)  # wherever it was printed
