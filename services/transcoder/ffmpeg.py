"""Running ffmpeg as a child process and reading its ``-progress`` output.

The child is killed (SIGKILL) whenever the awaiting task is cancelled, so cancelling a job's
task stops its ffmpeg at once; it also gets SIGTERM if the worker process dies.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.core.process import die_with_parent
from services.transcoder.commands import Command

_STDERR_LINES = 20


@dataclass(frozen=True)
class Tick:
    """One ``-progress`` block: media seconds written so far, encoding fps and speed."""

    out_time_s: float | None
    fps: float | None
    speed: float | None
    done: bool


class FfmpegFailed(Exception):
    """ffmpeg exited non-zero; ``killed`` when a signal ended it (not the input's fault)."""

    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode = returncode
        self.killed = returncode < 0
        self.stderr = stderr
        reason = f"killed by signal {-returncode}" if self.killed else f"exit code {returncode}"
        super().__init__(f"ffmpeg failed ({reason}): {stderr.strip()[-500:]}")


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


async def run_ffmpeg(binary: str, command: Command, on_tick: OnTick | None = None) -> None:
    """Run ``command`` to completion, calling ``on_tick`` per progress block.

    Raises :class:`FfmpegFailed` on a non-zero exit; kills ffmpeg if cancelled.
    """
    proc = await asyncio.create_subprocess_exec(
        binary,
        "-progress",
        "pipe:1",
        "-nostats",
        *command.args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
    stderr_task = asyncio.create_task(_collect(proc.stderr, errors))
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
        raise FfmpegFailed(returncode, "\n".join(errors))


async def _collect(stream: asyncio.StreamReader, into: collections.deque[str]) -> None:
    async for raw in stream:
        into.append(raw.decode(errors="replace").rstrip())
