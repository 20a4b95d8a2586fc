"""Where the running stack is: environment variables first, else a running ``vidpipe up``.

``vidpipe up`` writes ``stack.json`` into the data dir so that commands started beside it
(``vidpipe tap``, another ``vidpipe transcoder``) find its embedded broker and database.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from services.core.kafka.security import PLAINTEXT, KafkaSecurity
from services.core.runtime.settings import ConfigError, Settings

STACK_FILE = "stack.json"


@dataclass(frozen=True)
class Endpoints:
    """Resolved addresses of the shared components, and how to authenticate to the broker."""

    database_url: str
    kafka_bootstrap_servers: str
    kafka_security: KafkaSecurity = PLAINTEXT


def write_stack_file(data_dir: Path, endpoints: Endpoints, **extra: object) -> Path:
    """Record where this ``vidpipe up`` runs (``extra``: e.g. its public ``port``)."""
    path = data_dir / STACK_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "database_url": endpoints.database_url,
                "kafka_bootstrap_servers": endpoints.kafka_bootstrap_servers,
                **extra,
            }
        )
    )
    tmp.replace(path)
    return path


def _running_stack(data_dir: Path) -> dict[str, str] | None:
    try:
        info = json.loads((data_dir / STACK_FILE).read_text())
        os.kill(int(info["pid"]), 0)  # signal 0: is that `vidpipe up` still alive?
    except (OSError, ValueError, KeyError):
        return None
    return {k: str(v) for k, v in info.items()}


def resolve(settings: Settings) -> Endpoints:
    """The database and broker to use; ConfigError naming the variable when neither is known.

    The Kafka security settings apply to ``KAFKA_BOOTSTRAP_SERVERS``; the embedded broker of a
    running ``vidpipe up`` speaks PLAINTEXT on loopback."""
    stack = None
    if settings.database_url is None or settings.kafka_bootstrap_servers is None:
        stack = _running_stack(settings.data_dir)
    database_url = settings.database_url or (stack or {}).get("database_url")
    bootstrap = settings.kafka_bootstrap_servers or (stack or {}).get("kafka_bootstrap_servers")
    for name, value in (("DATABASE_URL", database_url), ("KAFKA_BOOTSTRAP_SERVERS", bootstrap)):
        if not value:
            raise ConfigError(name, "is not set and no `vidpipe up` is running with this data dir")
    assert database_url is not None and bootstrap is not None
    security = settings.kafka_security() if settings.kafka_bootstrap_servers else PLAINTEXT
    return Endpoints(
        database_url=database_url, kafka_bootstrap_servers=bootstrap, kafka_security=security
    )
