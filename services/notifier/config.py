"""Tuning of the notifier; the defaults suit production, tests and the bench shrink them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NotifierConfig:
    """Limits that keep memory per client small and constant."""

    queue_size: int = 256
    """Entries waiting for one client; a client that falls this far behind is dropped."""
    ring_size: int = 10_000
    """Recent entries kept per instance so most resumes need no read of the log."""
    heartbeat_s: float = 15.0
    """Comment lines on idle streams, well under common proxy idle timeouts (60 s)."""
    send_timeout_s: float = 10.0
    """A client whose socket accepts nothing for this long is disconnected."""
    replay_timeout_s: float = 15.0
    """Longest a resume may spend reading missed events from the log."""
    snapshot_limit: int = 200
    """Most jobs whose current state is sent on connect (the most recently updated)."""
