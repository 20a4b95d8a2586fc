"""The services' processes under ``vidpipe up``: start them, learn their ports, restart, stop.

``up`` never picks a port for a child (a port free when picked may be taken before the child
binds it): ``web`` binds the public ``PORT``, the others bind port 0 for ``/health`` and
``/metrics``, and each reports the port it got (``services.core.runtime.ports``). A child that dies
after start-up is restarted with backoff (``services.cli.restarts``); ``supervise`` returns
once one crash-loops. Children get SIGTERM from the kernel if ``up`` dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.cli.embedded import child_env
from services.cli.registry import SERVICES
from services.cli.restarts import CrashHistory, RestartPolicy
from services.core.runtime.ports import ops_report, read_report
from services.core.runtime.process import die_with_parent
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints

READY_TIMEOUT_S = 25.0


class ChildFailed(RuntimeError):
    """A child exited, or did not answer ``/health``, before it was ready."""


@dataclass
class Child:
    """One service process (``web`` serves every public service on one origin)."""

    name: str
    shows: tuple[str, ...]  # the components printed beside its address
    report: Path
    history: CrashHistory
    proc: subprocess.Popen[bytes] | None = None
    port: int | None = None

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None


@dataclass
class Children:
    """Every child of one ``up``, in start order."""

    settings: Settings
    endpoints: Endpoints
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        public = tuple(s.name for s in SERVICES if s.public)
        names = [("web", public)] if public else []
        names += [(s.name, (s.name,)) for s in SERVICES if not s.public]
        run_dir = self.settings.data_dir / "run"
        self.children = [
            Child(name, shows, run_dir / f"{name}.port", CrashHistory(self.policy))
            for name, shows in names
        ]

    def spawn(self, child: Child) -> None:
        """Start ``child`` (again); its port is unknown until it reports it."""
        child.report.unlink(missing_ok=True)
        ops_report(child.report).unlink(missing_ok=True)
        # The public origin stays where it was (PORT=0 bound some port the first time).
        public_port = child.port if child.name == "web" and child.port else self.settings.port
        child.port = None
        env = child_env(
            DATABASE_URL=self.endpoints.database_url,
            KAFKA_BOOTSTRAP_SERVERS=self.endpoints.kafka_bootstrap_servers,
            VIDPIPE_DATA_DIR=str(self.settings.data_dir),
            VIDPIPE_PORT_REPORT=str(child.report),
            PORT=str(public_port),
            OPS_PORT="0",
        )
        log_path = self.settings.data_dir / "logs" / f"{child.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            child.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", child.name],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches `up` only; it stops children itself
                preexec_fn=die_with_parent,  # only sets PDEATHSIG; safe before exec
            )

    def url(self, child: Child) -> str:
        return f"http://{self.settings.host}:{child.port}"

    async def wait_ready(self, child: Child, deadline: float) -> str:
        """Wait until ``child`` reported its port and answers ``/health`` there; its URL."""
        assert child.proc is not None
        while True:
            if child.proc.poll() is not None:
                log = self.settings.data_dir / "logs" / f"{child.name}.log"
                raise ChildFailed(
                    f"{child.name} exited with code {child.proc.returncode}; see {log}"
                )
            if child.port is None:
                child.port = read_report(child.report, child.proc.pid)
            if child.port is not None and await asyncio.to_thread(_answers, self.url(child)):
                return self.url(child)
            if time.monotonic() > deadline:
                raise ChildFailed(f"{child.name} was not healthy within {READY_TIMEOUT_S:.0f}s")
            await asyncio.sleep(0.1)

    async def supervise(self, changed: Callable[[], None]) -> int:
        """Restart children that die, with backoff; return 1 once one crash-loops."""
        while True:
            for child in (c for c in self.children if c.exited()):
                if not await self._restart(child):
                    return 1
                changed()
            await asyncio.sleep(0.2)

    async def _restart(self, child: Child) -> bool:
        assert child.proc is not None
        code, delay = child.proc.returncode, child.history.record(time.monotonic())
        policy = self.policy
        if delay is None:
            say(f"{child.name} exited with code {code}, more than {policy.max_restarts} times "
                f"within {policy.window_s:.0f}s; stopping")  # fmt: skip
            return False
        say(f"{child.name} exited with code {code}; restart {child.history.restarts} "
            f"of at most {policy.max_restarts} in {delay:.1f}s")  # fmt: skip
        await asyncio.sleep(delay)
        self.spawn(child)
        try:
            url = await self.wait_ready(child, time.monotonic() + READY_TIMEOUT_S)
        except ChildFailed as exc:
            say(str(exc))
            if child.proc is not None and child.proc.poll() is None:
                child.proc.kill()  # seen as dead on the next round: counts as a crash
            return True
        say(f"{child.name} restarted, {url}")
        return True

    def status(self) -> dict[str, dict[str, int | None]]:
        """What ``stack.json`` says about each child: pid, port, restarts so far; for ``web``
        also its ``ops_port`` (``/metrics``, which the public ``port`` does not serve)."""
        found: dict[str, dict[str, int | None]] = {}
        for c in self.children:
            pid = c.proc.pid if c.proc else None
            found[c.name] = {"pid": pid, "port": c.port, "restarts": c.history.restarts}
            if c.name == "web":
                ops = read_report(ops_report(c.report), pid) if pid else None
                found[c.name]["ops_port"] = ops
        return found

    def stop(self, grace_s: float) -> bool:
        """SIGTERM every child, SIGKILL those still running after ``grace_s``; whether any was."""
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            assert child.proc is not None
            child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        killed = False
        for child in running:
            assert child.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            if child.proc.poll() is None:
                say(f"{child.name} did not stop within {grace_s:.0f}s; killing it")
                killed = True
                child.proc.kill()
                child.proc.wait()
        return killed


def say(message: str) -> None:
    print(f"vidpipe: {message}", flush=True)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False
