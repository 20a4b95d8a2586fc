"""The attempt types shared by the consumer, the pool, the pipeline and its stages.

Kept apart from ``pipeline`` so that stages can name them without importing the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from services.transcoder.progress import ProgressReporter

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


class JobError(Exception):
    """An attempt failed; ``retryable`` says whether another attempt could succeed."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
