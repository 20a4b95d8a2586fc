"""The clock port: what "now" is for code that stamps or compares times.

Services read it through their dependencies, so tests can hand in a fixed or stepped clock
(``tests/support/fakes.py``) instead of waiting for real time to pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware (UTC)."""


def system_clock() -> datetime:
    """The machine's clock, in UTC."""
    return datetime.now(UTC)
