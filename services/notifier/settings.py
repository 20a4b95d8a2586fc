"""Tuning of the notifier; the defaults suit production, tests and the bench shrink them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NotifierConfig:
    """Limits that keep memory per client small and constant, and reconnect storms cheap."""

    queue_size: int = 256
    """Entries waiting for one client; a client that falls this far behind is dropped."""
    ring_size: int = 10_000
    """Recent entries kept per instance so most resumes need no read of the log."""
    seed_s: float = 45.0
    """At start-up the ring is filled with the log's last ``seed_s`` seconds (at most
    ``ring_size`` entries), so clients resuming after a restart need no read of the log
    (heartbeats carry the position, so an idle client's id is at most ``heartbeat_s`` old)."""
    heartbeat_s: float = 15.0
    """Comment lines on idle streams, well under common proxy idle timeouts (60 s)."""
    send_timeout_s: float = 10.0
    """A client whose socket accepts nothing for this long is disconnected."""
    replay_timeout_s: float = 15.0
    """Longest a resume may spend reading missed events from the log."""
    snapshot_limit: int = 200
    """Most jobs whose current state is sent on connect (the most recently updated)."""
    retry_ms: int = 1000
    """Reconnection delay sent to every stream (``retry:``), plus a random ``retry_jitter_ms``."""
    retry_jitter_ms: int = 4000
    """Spread of the reconnection delays: clients cut off together come back over this window."""
    shutdown_window_s: float = 4.0
    """On shutdown every stream is told to come back after ``retry_ms`` plus a random delay
    in this window, so a restart is not met by every client at once."""
    max_opening: int = 64
    """Streams being set up at once (auth, ownership, snapshot or replay); more wait."""
    max_waiting: int = 10_000
    """Streams waiting to be set up; beyond that, 503 with ``Retry-After``."""
    admission_wait_s: float = 10.0
    """Longest a stream waits to be set up before it is answered 503 with ``Retry-After``."""
