"""Progress of one attempt as ``video.job.progress`` ticks: whole-job percent, throttled.

Each stage owns a slice of 0..99; ffmpeg's media time fills the transcode slice. Ticks never
go backwards, come at most every ``min_interval_s`` and stop at 99: 100 is sent once, after
``completed``. Every advance also feeds the watchdog (``last_advance``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from schemas.events import JobProgress

STAGE_SPANS: dict[str, tuple[int, int]] = {
    "intake": (0, 1),
    "validate": (1, 4),
    "plan": (4, 4),
    "metadata": (4, 8),
    "transcode": (8, 90),
    "stitch": (90, 90),
    "preview": (90, 96),
    "analytics": (96, 97),
    "store": (97, 99),
    "completed": (100, 100),
}

Publish = Callable[[JobProgress], Awaitable[None]]


class ProgressReporter:
    """Turns stage fractions into throttled, non-decreasing ``JobProgress`` events."""

    def __init__(
        self, job_id: str, attempt: int, publish: Publish, min_interval_s: float = 0.25
    ) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self._publish = publish
        self._min_interval = min_interval_s
        self._sent = -1
        self._sent_at = 0.0
        self._started = time.monotonic()
        self.last_advance = self._started
        self._marker: tuple[str, float] = ("", -1.0)

    def percent(self, stage: str, fraction: float) -> int:
        """Whole-job percent for ``fraction`` (0..1) of ``stage``."""
        low, high = STAGE_SPANS[stage]
        return int(low + (high - low) * min(max(fraction, 0.0), 1.0))

    async def update(
        self,
        stage: str,
        fraction: float = 0.0,
        *,
        fps: float | None = None,
        speed: float | None = None,
    ) -> None:
        """Report ``fraction`` of ``stage``; sends a tick only when due and higher."""
        now = time.monotonic()
        if (stage, fraction) != self._marker:
            self._marker = (stage, fraction)
            self.last_advance = now
        percent = min(self.percent(stage, fraction), 99)
        if percent <= self._sent or now - self._sent_at < self._min_interval:
            return
        await self._send(stage, percent, fps, speed, now)

    async def finish(self) -> None:
        """The one tick at 100, after ``completed``."""
        await self._send("completed", 100, None, None, time.monotonic())

    async def _send(
        self, stage: str, percent: int, fps: float | None, speed: float | None, now: float
    ) -> None:
        elapsed = now - self._started
        eta = elapsed * (100 - percent) / percent if 0 < percent < 100 else None
        self._sent, self._sent_at = percent, now
        await self._publish(
            JobProgress(
                job_id=self.job_id,
                attempt=self.attempt,
                progress=percent,
                stage=stage,
                fps=fps,
                speed=speed,
                eta_s=None if eta is None else round(eta, 1),
            )
        )
