"""Probing untrusted uploads outside the API process: a few long-lived child processes.

Each child (``services.core.media.probe_child``) runs the PyAV probe under the limits every
media child gets (``services.core.runtime.process.limit_resources``: address space, CPU
seconds per probe, first in line for the OOM killer), one probe at a time, one decoder
thread. :class:`ProbePool` hands a probe to an idle child, at most ``concurrency`` at once
(the others wait their turn); a child that crashes, hits a limit or overruns its time is
killed and replaced on next use, and only the probe it was running fails, with
:class:`ProbeFailed` saying why in words. Children stay up between probes: the per-file cost
is one JSON line each way, not an interpreter start.
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from services.core.media.limits import MediaLimits
from services.core.media.probe import MediaInfo, ProbeError
from services.core.media.probe_child import OUT_OF_MEMORY
from services.core.runtime.process import limit_resources


@dataclass(frozen=True)
class ProbeResources:
    """How much probing may use: children at once, each one's address space and CPU seconds
    per file (``PROBE_CONCURRENCY``, ``PROBE_MEMORY``, ``PROBE_CPU_SECONDS``)."""

    concurrency: int = 2
    memory_bytes: int = 1024**3
    cpu_seconds: int = 60

    @property
    def timeout_s(self) -> float:
        """Wall-clock bound of one probe: its CPU budget twice over, plus slow I/O."""
        return 2.0 * self.cpu_seconds + 30.0


class ProbeFailed(Exception):
    """The probe itself failed (crashed, out of memory or time): ``reason`` is readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Child:
    process: asyncio.subprocess.Process
    probes: int = field(default=0)

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


class ProbePool:
    """Probes files in child processes; ``probe`` is what ``services.core.media.probe.probe``
    is, made async and isolated."""

    def __init__(self, resources: ProbeResources, python: str = sys.executable) -> None:
        self.resources = resources
        self._python = python
        self._idle: list[_Child] = []
        self._turns = asyncio.Semaphore(resources.concurrency)
        self._closed = False

    async def start(self) -> None:
        """Start the children now, so the first uploads do not wait for an interpreter."""
        self._idle += [await self._spawn() for _ in range(self.resources.concurrency)]

    async def close(self) -> None:
        self._closed = True
        for child in self._idle:
            child.kill()
            await child.process.wait()
        self._idle.clear()

    async def probe(
        self, location: str, demuxer: str | None = None, limits: MediaLimits | None = None
    ) -> MediaInfo:
        """Describe ``location`` (``ProbeError``: not an accepted video; ``ProbeFailed``: the
        probe could not finish)."""
        request = {"location": location, "demuxer": demuxer, "limits": _fields(limits)}
        async with self._turns:
            child = self._idle.pop() if self._idle else await self._spawn()
            try:
                answer = await self._ask(child, request)
            except BaseException:  # died, timed out or cancelled: its state is unknown
                child.kill()
                raise
            if self._closed:
                child.kill()
            else:
                self._idle.append(child)
        if "info" in answer:
            return MediaInfo(**answer["info"])
        error = answer["error"]
        if error["code"] == OUT_OF_MEMORY:
            raise ProbeFailed(self._memory_limit())
        raise ProbeError(error["code"], error["message"], error.get("limit"))

    async def _spawn(self) -> _Child:
        process = await asyncio.create_subprocess_exec(
            self._python,
            "-m",
            "services.core.media.probe_child",
            str(self.resources.cpu_seconds),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            preexec_fn=functools.partial(limit_resources, self.resources.memory_bytes),
        )
        return _Child(process)

    async def _ask(self, child: _Child, request: dict[str, Any]) -> dict[str, Any]:
        process = child.process
        assert process.stdin is not None and process.stdout is not None
        child.probes += 1
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            await process.stdin.drain()
            line = await asyncio.wait_for(process.stdout.readline(), self.resources.timeout_s)
        except TimeoutError:
            child.kill()
            await process.wait()
            raise ProbeFailed(
                f"probing took longer than {self.resources.timeout_s:.0f} s "
                "(PROBE_CPU_SECONDS sets the bound)"
            ) from None
        except (BrokenPipeError, ConnectionResetError):
            line = b""
        if not line:  # the child is gone: say what ended it
            raise ProbeFailed(self._death(await process.wait(), first=child.probes == 1))
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _death(self, returncode: int, *, first: bool) -> str:
        if returncode == -signal.SIGXCPU:
            return (
                f"probing exceeded its CPU time limit ({self.resources.cpu_seconds} s, "
                "PROBE_CPU_SECONDS)"
            )
        if returncode in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS, -signal.SIGKILL):
            return f"the probe crashed (signal {-returncode}); {self._memory_limit()}?"
        if first:  # it never answered anything: it could not even start within its limits
            return f"the probe could not start (exit code {returncode}); {self._memory_limit()}?"
        return f"the probe crashed (exit code {returncode})"

    def _memory_limit(self) -> str:
        mib = self.resources.memory_bytes // 1024**2
        return f"probing exceeded its memory limit ({mib} MiB, PROBE_MEMORY)"


def _fields(limits: MediaLimits | None) -> dict[str, Any]:
    limits = limits or MediaLimits()
    return {
        "max_pixels": limits.max_pixels,
        "max_fps": limits.max_fps,
        "max_duration_s": limits.max_duration_s,
        "max_streams": limits.max_streams,
    }
