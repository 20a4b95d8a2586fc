"""``vidpipe up`` stopped at any moment, started among busy ports, and a service killed under it.

Real processes throughout: the embedded broker and PostgreSQL, the services as children.
Phases are read from ``up``'s own output; every wait is a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from services.cli.broker import EmbeddedBroker
from services.cli.embedded import EmbeddedPostgres
from services.cli.stack import SHUTDOWN_GRACE_S
from tests.support import media
from tests.support.eventually import eventually
from tests.support.up import READY_DEADLINE_S, User

pytestmark = pytest.mark.slow

# Children get SHUTDOWN_GRACE_S, then the broker (clean stop 1-4 s) and PostgreSQL stop.
STOP_DEADLINE_S = SHUTDOWN_GRACE_S + 15.0


class Stack:
    """A ``vidpipe up`` whose output lines are collected by a thread, to wait on with deadlines."""

    def __init__(self, data_dir: Path) -> None:
        drop = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "STORAGE_URL", "KAFKA_TOPIC_PREFIX")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env.update(VIDPIPE_DATA_DIR=str(data_dir), PORT="0")
        self.data_dir = data_dir
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:  # closed at end of file, i.e. once `up` and its children exit
            for line in self.proc.stdout:
                with self._new_line:
                    self.lines.append(line.rstrip())
                    self._new_line.notify_all()

    def output_closed(self, timeout_s: float) -> None:
        self._reader.join(timeout_s)
        assert not self._reader.is_alive(), "up's output is still open"

    def wait_line(self, starts: str, timeout_s: float = READY_DEADLINE_S) -> str:
        """The first output line starting with ``starts``, waiting for it if need be."""
        deadline = time.monotonic() + timeout_s
        with self._new_line:
            while True:
                for line in self.lines:
                    if line.startswith(starts):
                        return line
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, (starts, self.lines)
                self._new_line.wait(min(left, 1.0))

    def address(self, component: str) -> str:
        return self.wait_line(component + " ").split()[1]

    def status(self) -> dict[str, dict[str, int]]:
        services: dict[str, dict[str, int]] = json.loads(
            (self.data_dir / "stack.json").read_text()
        )["services"]
        return services

    def processes(self) -> set[psutil.Process]:
        """Every process of this stack: ``up``'s process tree, and whatever names the data dir
        (the Java broker, the daemonised PostgreSQL server and its workers, the services)."""
        found = set()
        with_data_dir = str(self.data_dir)
        for proc in psutil.process_iter():
            try:
                if proc.pid == os.getpid():
                    continue
                named = any(with_data_dir in part for part in proc.cmdline())
                if named or proc.environ().get("VIDPIPE_DATA_DIR") == with_data_dir:
                    found.add(proc)
            except psutil.Error:
                continue
        with_tree = set()
        try:
            with_tree = set(psutil.Process(self.proc.pid).children(recursive=True))
        except psutil.Error:
            pass
        return found | with_tree

    def problems(self) -> list[str]:
        """Tracebacks and unclosed clients in ``up``'s output and every service's log."""
        texts = {"up": "\n".join(self.lines)}
        for log in sorted((self.data_dir / "logs").glob("*.log")):
            texts[log.name] = log.read_text(errors="replace")
        return [
            f"{name}: {word}"
            for name, text in texts.items()
            for word in ("Traceback", "Unclosed")
            if word in text
        ]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vpl", dir="/tmp") as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def watched(stack: Stack) -> Iterator[Stack]:
    """``stack`` for a block: what it printed is shown if the block fails, and it is killed if
    still running at the end, then reaped (not left to ``Popen.__del__``)."""
    try:
        yield stack
    except BaseException:
        print("\n".join(stack.lines))
        raise
    finally:
        if stack.proc.poll() is None:
            stack.proc.kill()
        stack.proc.wait(30)


def stop_and_time(stack: Stack, *, launching: bool = False) -> float:
    """SIGTERM ``up``; seconds until it and every process of its stack are gone.

    ``launching``: the signal may come before Python has installed a handler, which ends
    ``up`` by the signal itself (nothing is started yet).
    """
    before = stack.processes()
    started = time.monotonic()
    stack.proc.send_signal(signal.SIGTERM)
    code = stack.proc.wait(STOP_DEADLINE_S)
    deadline = started + STOP_DEADLINE_S
    while (alive := [p for p in before | stack.processes() if p.is_running()]) and (
        time.monotonic() < deadline
    ):
        psutil.wait_procs(alive, timeout=0.2)
    assert alive == [], f"left behind: {alive}"
    stack.output_closed(max(1.0, deadline - time.monotonic()))
    assert code == 0 or (launching and code == -signal.SIGTERM), (code, stack.lines)
    return time.monotonic() - started


PHASES: dict[str, Callable[[Stack], object]] = {
    "launch": lambda stack: None,
    "migrations": lambda stack: stack.wait_line("storage "),  # migrations run next
    "topics": lambda stack: stack.wait_line("migrations "),  # topics are created next
    "services": lambda stack: stack.wait_line("topics "),  # the children are starting
    "ready": lambda stack: stack.wait_line("vidpipe is up"),
}


def test_sigterm_at_every_phase_of_start_up_stops_everything(data_dir: Path) -> None:
    stop_s: dict[str, float] = {}
    for phase, reach in PHASES.items():
        with watched(Stack(data_dir)) as stack:
            reach(stack)
            stop_s[phase] = stop_and_time(stack, launching=phase == "launch")
            assert stack.problems() == [], phase
    print("stop times:", {phase: round(s, 1) for phase, s in stop_s.items()})
    assert max(stop_s.values()) < STOP_DEADLINE_S


def test_up_starts_among_busy_ports_and_prints_the_ones_it_got(data_dir: Path) -> None:
    held: list[socket.socket] = []
    try:
        for port in (9092, 0):  # Kafka's default port, then one ephemeral port
            sock = socket.create_server(("127.0.0.1", port))
            held.append(sock)
        held += [socket.create_server(("127.0.0.1", 0)) for _ in range(3000)]
        busy = {s.getsockname()[1] for s in held}
        stack = Stack(data_dir)
        try:
            stack.wait_line("vidpipe is up")
            ports = {c: int(stack.address(c).rsplit(":", 1)[1]) for c in ("ingest", "projector")}
            ports["transcoder"] = int(stack.address("transcoder").rsplit(":", 1)[1])
            ports["kafka"] = int(stack.address("kafka").rsplit(":", 1)[1])
            assert not busy & set(ports.values()), ports
            for component in ("ingest", "projector", "transcoder"):
                health = httpx.get(f"{stack.address(component)}/health", timeout=10)
                assert health.status_code == 200, (component, health.text)
            status = stack.status()
            assert status["projector"]["port"] == ports["projector"]
        finally:
            stop_and_time(stack)
    finally:
        for sock in held:
            sock.close()


def test_broker_takes_other_ports_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        broker = EmbeddedBroker(port, tmp_path / "kafka", retry_ports=True)
        try:
            address = broker.start(timeout_s=READY_DEADLINE_S)
            assert address != f"127.0.0.1:{port}" and broker.port != port
        finally:
            broker.stop()


async def test_a_killed_service_is_restarted_while_the_api_stays_up(data_dir: Path) -> None:
    source = media.make_video(data_dir.parent / f"{data_dir.name}.mp4", seconds=1.0)
    with watched(Stack(data_dir)) as stack:
        stack.wait_line("vidpipe is up")
        api = stack.address("ingest")
        user = await User.register(api)
        for name in ("transcoder", "projector"):
            old = stack.status()[name]
            os.kill(old["pid"], signal.SIGKILL)
            await restarted(stack, name, old["pid"], api)
        job_id = await user.upload(source)
        job = await user.completed(job_id)
        assert {o["name"] for o in job["outputs"]} >= {"thumbnail.jpg", "preview.mp4"}
        assert stack.status()["transcoder"]["restarts"] == 1
        assert stack.status()["projector"]["restarts"] == 1
        stop_and_time(stack)
        assert stack.problems() == []


async def restarted(stack: Stack, name: str, old_pid: int, api: str) -> None:
    """Wait until ``name`` runs again (a new pid, healthy); the public API answers meanwhile."""
    async with httpx.AsyncClient(timeout=5) as client:

        async def back() -> bool:
            assert (await client.get(f"{api}/health")).status_code == 200, "the API went down"
            status = stack.status()[name]
            if status["pid"] == old_pid or status["restarts"] != 1 or not status["port"]:
                return False
            health = await client.get(f"http://127.0.0.1:{status['port']}/health")
            return health.status_code == 200

        await eventually(
            back,
            timeout=READY_DEADLINE_S,
            message=lambda: f"{name} restarted; up printed: {stack.lines}",
        )


def _postmaster(data_dir: Path) -> psutil.Process | None:
    pid_file = data_dir / "pg" / "postmaster.pid"
    try:
        return psutil.Process(int(pid_file.read_text().split()[0]))
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def test_up_comes_back_right_after_every_process_of_the_stack_is_killed(data_dir: Path) -> None:
    """SIGKILL of ``up``, the broker, the postmaster and its backends, the services, all at
    once (a power cut of the stack); ``up`` started at once afterwards comes up, no traceback:
    it waits (bounded) for the old PostgreSQL backends to let go and starts the server."""
    with watched(Stack(data_dir)) as stack:
        stack.wait_line("vidpipe is up")
        postmaster = _postmaster(data_dir)
        assert postmaster is not None
        victims = stack.processes() | {postmaster, *postmaster.children(recursive=True)}
        victims.add(psutil.Process(stack.proc.pid))
        for victim in victims:
            with contextlib.suppress(psutil.Error):
                victim.send_signal(signal.SIGKILL)
        stack.proc.wait(30)
        stack.output_closed(30)

    with watched(Stack(data_dir)) as again:  # immediately: old backends may still be exiting
        again.wait_line("vidpipe is up")
        health = httpx.get(f"{again.address('ingest')}/ready", timeout=10)
        assert health.status_code == 200, health.text
        stop_and_time(again)
        assert again.problems() == []


def test_a_postgres_data_dir_held_by_a_live_stranger_stops_up_with_one_line(
    data_dir: Path,
) -> None:
    """``postmaster.pid`` naming a live process that is not the data dir's server (a reused
    pid, a hand-started program): ``up`` exits non-zero naming it in one line, no traceback."""
    postgres = EmbeddedPostgres(data_dir / "pg")
    postgres.start()  # an initialised data dir, as a previous `up` leaves it
    postgres.stop()
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        pgdata = data_dir / "pg"
        lines = [str(stranger.pid), str(pgdata), "1796670000", "5432", str(pgdata), ""]
        (pgdata / "postmaster.pid").write_text("\n".join([*lines, "0 0", "ready", ""]))
        stack = Stack(data_dir)
        code = stack.proc.wait(READY_DEADLINE_S)
        stack.output_closed(10)
        errors = [line for line in stack.lines if line.startswith("vidpipe: ")]
        assert code != 0, stack.lines
        assert len(errors) == 1 and f"held by process {stranger.pid}" in errors[0], stack.lines
        assert stack.problems() == []
        assert stranger.poll() is None, "the stranger is left alone"
    finally:
        stranger.kill()
        stranger.wait(10)
