"""Chunk outcomes on their way to the split attempt waiting for them in this process.

A chunk's outcome is a ``stage_completed`` (operation ``chunk``) on ``video.jobs``: the
projector makes it a history row, and the group-less tailer (``stops.py``), which reads every
partition whatever the group does, drops it here for the attempt that asked. So the attempt
hears of its chunks even while its own partition is paused or being rebalanced.
"""

from __future__ import annotations

import asyncio

from schemas.events import StageCompleted
from services.core.storage.keys import output_key

CHUNK_OPERATION = "chunk"
"""``stage_completed.operation`` of a chunk's outcome; its metadata: ``index``, ``frames``,
``media_seconds``, ``keys`` (ok) or ``error_code``, ``message``, ``retryable`` (failed)."""

STITCH_OPERATION = "stitch"
MARKER = "open"


def chunk_prefix(job_id: str, attempt: int) -> str:
    """Where an attempt's chunk files go (removed once the job's outputs are stored)."""
    return output_key(job_id, attempt, "chunks/")


def marker_key(job_id: str, attempt: int) -> str:
    """Present while the attempt still wants chunks: a chunk task whose marker is gone is
    stale (its attempt ended) and is skipped, or removes what it uploaded."""
    return chunk_prefix(job_id, attempt) + MARKER


class ChunkBoard:
    """Inboxes of the split attempts running in this process, by job and attempt."""

    def __init__(self) -> None:
        self._inboxes: dict[tuple[str, int], asyncio.Queue[StageCompleted]] = {}
        self._jobs: dict[str, int] = {}

    def open(self, job_id: str, attempt: int) -> asyncio.Queue[StageCompleted]:
        inbox: asyncio.Queue[StageCompleted] = asyncio.Queue()
        self._inboxes[job_id, attempt] = inbox
        self._jobs[job_id] = self._jobs.get(job_id, 0) + 1
        return inbox

    def close(self, job_id: str, attempt: int) -> None:
        if self._inboxes.pop((job_id, attempt), None) is not None:
            self._jobs[job_id] -= 1
            if not self._jobs[job_id]:
                del self._jobs[job_id]

    def wants(self, job_id: str) -> bool:
        """Whether an attempt of ``job_id`` waits here (decode its records only then)."""
        return job_id in self._jobs

    def deliver(self, event: StageCompleted) -> None:
        if event.operation != CHUNK_OPERATION:
            return
        inbox = self._inboxes.get((event.job_id, event.attempt))
        if inbox is not None:
            inbox.put_nowait(event)
