"""Tuning of the notifier, each setting declared once (a ``NOTIFIER_*`` variable).

The defaults suit production; tests and the bench shrink them by building ``NotifierConfig``.
They keep memory per client small and constant, and reconnect storms cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.core.runtime.declare import Setting, integer, number, read_env

SERVICE = "notifier"

# Setting(variable, kind, default, description, service, attribute)
# fmt: off
QUEUE_SIZE = Setting(
    "NOTIFIER_QUEUE_SIZE", integer(1, 100_000), "256",
    "entries waiting for one client; a client that falls this far behind is dropped",
    SERVICE, "queue_size",
)
RING_SIZE = Setting(
    "NOTIFIER_RING_SIZE", integer(1, 1_000_000), "10000",
    "recent entries kept per instance, so most resumes need no read of the log",
    SERVICE, "ring_size",
)
# Heartbeats carry the position, so an idle client's id is at most heartbeat_s old: a resume
# after a restart finds it in a ring seeded this far back.
SEED = Setting(
    "NOTIFIER_SEED_S", number(0, 86400), "45",
    "at start-up the ring is filled with the log's last seconds (at most the ring size)",
    SERVICE, "seed_s",
)
HEARTBEAT = Setting(
    "NOTIFIER_HEARTBEAT_S", number(0.05, 3600), "15",
    "seconds between comment lines on idle streams (well under proxies' 60 s idle timeouts)",
    SERVICE, "heartbeat_s",
)
SEND_TIMEOUT = Setting(
    "NOTIFIER_SEND_TIMEOUT_S", number(0.1, 600), "10",
    "a client whose socket accepts nothing for this long (seconds) is disconnected",
    SERVICE, "send_timeout_s",
)
REPLAY_TIMEOUT = Setting(
    "NOTIFIER_REPLAY_TIMEOUT_S", number(0.1, 600), "15",
    "longest a resume may spend reading missed events from the log (seconds)",
    SERVICE, "replay_timeout_s",
)
SNAPSHOT_LIMIT = Setting(
    "NOTIFIER_SNAPSHOT_LIMIT", integer(0, 100_000), "200",
    "most jobs whose current state is sent on connect (the most recently updated)",
    SERVICE, "snapshot_limit",
)
RETRY = Setting(
    "NOTIFIER_RETRY_MS", integer(0, 3_600_000), "1000",
    "reconnection delay sent to every stream (`retry:`), plus a random jitter",
    SERVICE, "retry_ms",
)
RETRY_JITTER = Setting(
    "NOTIFIER_RETRY_JITTER_MS", integer(0, 3_600_000), "4000",
    "spread of the reconnection delays: clients cut off together come back over this window",
    SERVICE, "retry_jitter_ms",
)
# so that a restart is not met by every client at once
SHUTDOWN_WINDOW = Setting(
    "NOTIFIER_SHUTDOWN_WINDOW_S", number(0, 600), "4",
    "on shutdown every stream is told to come back after the retry delay plus a random delay "
    "in this window (seconds)", SERVICE, "shutdown_window_s",
)
MAX_OPENING = Setting(
    "NOTIFIER_MAX_OPENING", integer(0, 100_000), "64",
    "streams being set up at once (auth, ownership, snapshot or replay); more wait",
    SERVICE, "max_opening",
)
MAX_WAITING = Setting(
    "NOTIFIER_MAX_WAITING", integer(0, 10_000_000), "10000",
    "streams waiting to be set up; beyond that, 503 with `Retry-After`",
    SERVICE, "max_waiting",
)
ADMISSION_WAIT = Setting(
    "NOTIFIER_ADMISSION_WAIT_S", number(0, 600), "10",
    "longest a stream waits to be set up (seconds) before it is answered 503 with `Retry-After`",
    SERVICE, "admission_wait_s",
)
# Per instance: a stream stays on the instance that opened it, so N instances admit N times
# these (docs/security.md).
MAX_STREAMS_PER_USER = Setting(
    "NOTIFIER_MAX_STREAMS_PER_USER", integer(0, 1_000_000), "10",
    "open streams one account may hold on an instance, admins included (0: no limit); "
    "beyond that, 429 with `Retry-After`", SERVICE, "max_streams_per_user",
)
MAX_STREAMS_PER_ADDRESS = Setting(
    "NOTIFIER_MAX_STREAMS_PER_ADDRESS", integer(0, 1_000_000), "10",
    "open or opening streams from one client address on an instance (0: no limit); beyond "
    "that, 429 with `Retry-After`", SERVICE, "max_streams_per_address",
)
MAX_REPLAYS = Setting(
    "NOTIFIER_MAX_REPLAYS", integer(0, 10_000), "4",
    "resumes reading missed events from the log at once, apart from the set-up slots of "
    "`NOTIFIER_MAX_OPENING`; more wait as set-ups do, then 503 with `Retry-After`",
    SERVICE, "max_replays",
)
REPLAY_MAX_RECORDS = Setting(
    "NOTIFIER_REPLAY_MAX_RECORDS", integer(0, 100_000_000), "10000",
    "furthest behind the instance's ring a resume may be (records of the log, all partitions "
    "together) to be replayed from the log; an older cursor gets the current state instead",
    SERVICE, "replay_max_records",
)
# fmt: on
DECLARED: tuple[Setting[Any], ...] = (
    QUEUE_SIZE,
    RING_SIZE,
    SEED,
    HEARTBEAT,
    SEND_TIMEOUT,
    REPLAY_TIMEOUT,
    SNAPSHOT_LIMIT,
    RETRY,
    RETRY_JITTER,
    SHUTDOWN_WINDOW,
    MAX_OPENING,
    MAX_WAITING,
    ADMISSION_WAIT,
    MAX_STREAMS_PER_USER,
    MAX_STREAMS_PER_ADDRESS,
    MAX_REPLAYS,
    REPLAY_MAX_RECORDS,
)


@dataclass(frozen=True)
class NotifierConfig:
    """The values of ``DECLARED`` (one field per ``attribute``; defaults from there)."""

    queue_size: int = QUEUE_SIZE.default_value
    ring_size: int = RING_SIZE.default_value
    seed_s: float = SEED.default_value
    heartbeat_s: float = HEARTBEAT.default_value
    send_timeout_s: float = SEND_TIMEOUT.default_value
    replay_timeout_s: float = REPLAY_TIMEOUT.default_value
    snapshot_limit: int = SNAPSHOT_LIMIT.default_value
    retry_ms: int = RETRY.default_value
    retry_jitter_ms: int = RETRY_JITTER.default_value
    shutdown_window_s: float = SHUTDOWN_WINDOW.default_value
    max_opening: int = MAX_OPENING.default_value
    max_waiting: int = MAX_WAITING.default_value
    admission_wait_s: float = ADMISSION_WAIT.default_value
    max_streams_per_user: int = MAX_STREAMS_PER_USER.default_value
    max_streams_per_address: int = MAX_STREAMS_PER_ADDRESS.default_value
    max_replays: int = MAX_REPLAYS.default_value
    replay_max_records: int = REPLAY_MAX_RECORDS.default_value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifierConfig:
        """Read and validate the ``NOTIFIER_*`` variables of the process (or ``env``)."""
        return cls(**read_env(DECLARED, os.environ if env is None else env))
