"""The attempt types shared by the consumer, the pool, the pipeline and its stages.

Kept apart from ``pipeline`` so that stages can name them without importing the pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from schemas.events import ChunkRequested
from services.transcoder.attempt.progress import ProgressReporter
from services.transcoder.encode.runner import FfmpegFailed

log = logging.getLogger(__name__)

StopReason = Literal["cancel", "deleted", "stalled", "abandon"]
Outcome = Literal["completed", "failed", "retried", "cancelled", "deleted"]


@dataclass
class Attempt:
    """An attempt the pool hands to :meth:`Pipeline.execute`."""

    job_id: str
    attempt: int
    options: dict[str, Any]
    correlation_id: str | None
    worker_id: str = ""
    stop_reason: StopReason | None = None
    progress: ProgressReporter | None = field(default=None, repr=False)
    priority: int = 0
    """Turn order (lower first) among the runs this worker fetched."""
    chunk: ChunkRequested | None = None
    """Set for a chunk task of a split attempt (from ``video.chunks``)."""
    detach: Callable[[], None] | None = field(default=None, repr=False)
    """Set by the pool: gives the slot back while a split attempt waits for its chunks."""
    first_attempt: int = 1
    """First attempt of the job's current run (a reprocess starts a run above 1)."""

    @property
    def key(self) -> str:
        """What the pool knows the run by: the job id, or ``{job id}#{index}`` for a chunk."""
        return self.job_id if self.chunk is None else f"{self.job_id}#{self.chunk.index}"


class JobError(Exception):
    """An attempt failed; ``retryable`` says whether another attempt could succeed."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


def ffmpeg_error(exc: FfmpegFailed, job_id: str) -> JobError:
    """The job error an ffmpeg failure means: its fixed words for the user; the raw stderr
    (server paths, library internals) goes to the log, with the job id."""
    failure = exc.failure
    log.warning(
        "ffmpeg failed: %s (exit %d)",
        failure.code,
        exc.returncode,
        extra={"job_id": job_id, "error_code": failure.code, "stderr": exc.stderr},
    )
    return JobError(failure.code, failure.message, retryable=failure.retryable)


def storage_error(exc: Exception, job_id: str) -> JobError:
    """A storage failure, retryable; its text (paths, endpoints) goes to the log only."""
    log.warning("storage failed: %s", exc, extra={"job_id": job_id})
    return JobError("storage_error", f"storage failed ({type(exc).__name__})", retryable=True)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for retryable failures: base, 2*base, 4*base... up to a cap."""

    max_attempts: int = 3
    base_delay_s: float = 5.0
    max_delay_s: float = 300.0

    def delay(self, failed_attempt: int, first_attempt: int = 1) -> timedelta:
        """Wait before the attempt after ``failed_attempt``; the run began at ``first_attempt``."""
        seconds = self.base_delay_s * (2 ** max(failed_attempt - first_attempt, 0))
        return timedelta(seconds=min(seconds, self.max_delay_s))

    def may_retry(self, failed_attempt: int, first_attempt: int = 1) -> bool:
        """Whether another automatic attempt follows ``failed_attempt`` of the run that began
        at ``first_attempt`` (attempts count over the job's life; the budget is per run)."""
        return failed_attempt - first_attempt + 1 < self.max_attempts
