"""The public API's job statuses, as the client reads them off the wire.

The client talks HTTP only and imports no server code (an import-linter contract), so it keeps
its own copy of this vocabulary; ``tests/unit/cli/client/test_pure_parts.py`` checks it equals
the server's ``JobStatus``.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
