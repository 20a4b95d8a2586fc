"""Shared pieces of the reliability suite: service processes, polling, the log, the read model.

Everything a scenario starts is registered with :class:`Processes` (or a namespace helper) and
is stopped in ``finally`` blocks, so a failing test leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from schemas.envelope import Envelope
from schemas.events import JobCompleted
from services.core.db.engine import plain_url
from services.core.domain.jobstate import IllegalTransition, JobState, apply
from services.core.runtime.process import die_with_parent, free_port

# Variables a parent may carry that would point a child at the wrong slice.
_SCRUB = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "STORAGE_URL", "KAFKA_TOPIC_PREFIX", "PORT")


def service_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    """The process environment pointed at one test slice."""
    full = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    full.update(env)
    full.update(extra)
    return full


@dataclasses.dataclass
class Service:
    """One ``vidpipe <service>`` child process and where its log goes."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    ops_port: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class Processes:
    """Starts ``python -m services.cli ...`` children; :meth:`stop_all` ends every one."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Service] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(
        self,
        name: str,
        args: Sequence[str],
        env: dict[str, str],
        *,
        prefix: Sequence[str] = (),
        ops: bool = True,
    ) -> Service:
        """Start ``vidpipe <args>`` (optionally under ``prefix``, e.g. ``ip netns exec``)."""
        ops_port = free_port() if ops else None
        log = self.log_dir / f"{name}-{len(self.started)}.log"
        extra = {"OPS_PORT": str(ops_port)} if ops_port else {"OPS_PORT": "0"}
        with log.open("ab") as handle:
            proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "services.cli", *args],
                env=service_env(env, **extra),
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # a killed pytest takes its children along
            )
        service = Service(name, proc, log, ops_port)
        self.started.append(service)
        return service

    def kill(self, service: Service) -> None:
        """SIGKILL: no grace, no goodbye to the group, nothing flushed."""
        if service.alive():
            service.proc.send_signal(signal.SIGKILL)
        service.proc.wait(10)

    def stop_all(self, grace_s: float = 10.0) -> None:
        for service in self.started:
            if service.alive():
                service.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for service in self.started:
            try:
                service.proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                service.proc.kill()
                service.proc.wait(5)

    def dump(self) -> str:
        """The end of every child's log (printed when a scenario fails)."""
        return "\n".join(f"--- {s.name} pid {s.pid}\n{s.tail()}" for s in self.started)


@contextlib.contextmanager
def processes(log_dir: Path) -> Any:
    procs = Processes(log_dir)
    try:
        yield procs
    except BaseException:
        print(procs.dump())
        raise
    finally:
        procs.stop_all()


async def healthy(service: Service) -> bool:
    """Whether a non-public service answers ``/health`` with status ok."""
    if not service.alive():
        raise AssertionError(f"{service.name} exited:\n{service.tail()}")
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            response = await client.get(f"http://127.0.0.1:{service.ops_port}/health")
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("status") == "ok"


async def health(service: Service) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=2) as client:
        response = await client.get(f"http://127.0.0.1:{service.ops_port}/health")
    return dict(response.json())


def fold(envelopes: Sequence[Envelope]) -> tuple[JobState | None, list[JobCompleted]]:
    """A job's state after its lifecycle events in log order, and the accepted completions."""
    state: JobState | None = None
    accepted: list[JobCompleted] = []
    for envelope in envelopes:
        try:
            state = apply(state, envelope.event)
        except IllegalTransition:
            continue
        if isinstance(envelope.event, JobCompleted):
            accepted.append(envelope.event)
    return state, accepted


async def fetch(db_url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        return [dict(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


async def statuses(db_url: str, ids: Sequence[str]) -> dict[str, str]:
    rows = await fetch(db_url, "SELECT id::text, status FROM jobs WHERE id::text = ANY($1)", ids)
    return {r["id"]: r["status"] for r in rows}


async def all_terminal(db_url: str, ids: Sequence[str], terminal: Sequence[str]) -> bool:
    found = await statuses(db_url, ids)
    return len(found) == len(ids) and all(s in terminal for s in found.values())


def gather_limited(limit: int, coros: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
    """``asyncio.gather`` with at most ``limit`` coroutines running at once."""
    gate = asyncio.Semaphore(limit)

    async def one(coro: Awaitable[Any]) -> Any:
        async with gate:
            return await coro

    return asyncio.gather(*(one(c) for c in coros))
