"""When ``vidpipe up`` restarts a service that died, and when it gives up. Pure: no I/O.

A service that dies after start-up is restarted after a delay that doubles per recent crash
(``base_delay_s``, twice that, four times… up to ``max_delay_s``). More than ``max_restarts``
crashes within ``window_s`` is a crash loop: ``up`` stops the stack and exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartPolicy:
    """How many restarts within which window, and the backoff between them."""

    max_restarts: int = 5
    window_s: float = 300.0
    base_delay_s: float = 0.5
    max_delay_s: float = 10.0

    def delay(self, recent_crashes: int) -> float:
        """Seconds to wait before the restart following the ``recent_crashes``-th crash (≥1)."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** max(0, recent_crashes - 1)))


@dataclass
class CrashHistory:
    """One service's crashes; ``record`` says when to restart it, or None to give up."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    crashes: list[float] = field(default_factory=list)
    restarts: int = 0

    def record(self, now: float) -> float | None:
        """Note a crash at monotonic time ``now``; the delay before restarting, or None."""
        self.crashes = [t for t in self.crashes if now - t < self.policy.window_s] + [now]
        if len(self.crashes) > self.policy.max_restarts:
            return None
        self.restarts += 1
        return self.policy.delay(len(self.crashes))
