"""One attempt of one job: the stages, their events, and how the attempt ends.

intake (``started``) -> validate (probe, options) -> metadata (+ poster thumbnail) ->
transcode -> preview -> analytics -> store (upload) -> cleanup -> ``completed``. Outputs are
built in a per-attempt scratch dir and uploaded at the end to deterministic keys
``outputs/{job_id}/{attempt}/{name}``, so a rerun overwrites; the scratch dir goes in every outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, Literal, TypeVar

from schemas.envelope import new_envelope
from schemas.events import (
    ChunkRequested,
    Event,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobOutput,
    RetryScheduled,
    StageCompleted,
)
from services.core.kafka.clients import EventPublisher
from services.core.media.limits import MediaLimits
from services.core.runtime.clock import Clock, system_clock
from services.core.storage import ObjectStore, StorageError, run_cleanup
from services.transcoder.attempt.chunk_run import execute_chunk
from services.transcoder.attempt.model import (
    Attempt,
    JobError,
    Outcome,
    RetryPolicy,
    StopReason,
    storage_error,
)
from services.transcoder.attempt.progress import ProgressReporter
from services.transcoder.attempt.split_run import remove_chunks
from services.transcoder.attempt.stages import StageBody, StageContext, run_stages
from services.transcoder.encode import command_lines as commands
from services.transcoder.encode import runner as ffmpeg
from services.transcoder.encode.runner import FfmpegLimits
from services.transcoder.metrics import JOBS_PROCESSED, STAGE_DURATION
from services.transcoder.split.board import ChunkBoard
from services.transcoder.split.planning import SplitSettings

log = logging.getLogger(__name__)

SOURCE = "/vidpipe/transcoder"
T = TypeVar("T")


async def _no_ticks(_event: Any) -> None:
    """Chunks publish no ticks: their attempt reports the share of frames encoded."""


class Pipeline:
    """Runs attempts against one store and publisher, with one ffmpeg binary.

    It is the :class:`~services.transcoder.attempt.stages.StageHost` of the stages it runs.
    """

    def __init__(
        self,
        store: ObjectStore,
        publisher: EventPublisher,
        ffmpeg: str,
        policy: RetryPolicy,
        *,
        stall_timeout_s: float,
        process_id: str,
        ffmpeg_limits: FfmpegLimits | None = None,
        media_limits: MediaLimits | None = None,
        split_settings: SplitSettings | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.ffmpeg = ffmpeg
        self.policy = policy
        self.stall_timeout_s = stall_timeout_s
        self.process_id = process_id
        self.ffmpeg_limits = ffmpeg_limits or FfmpegLimits()
        self.media_limits = media_limits or MediaLimits()
        self.split_settings = split_settings or SplitSettings()
        self.chunk_board = ChunkBoard()
        self.clock = clock

    @property
    def ffmpeg_threads(self) -> int:
        return self.ffmpeg_limits.threads

    async def emit(self, job: Attempt, event: Event) -> None:
        """Publish ``event`` with the job's correlation id (acks=all before returning)."""
        await self.publisher.publish(
            new_envelope(event, source=SOURCE, correlation_id=job.correlation_id)
        )

    async def run_ffmpeg(
        self, command: commands.Command, on_tick: ffmpeg.OnTick | None = None
    ) -> None:
        """Run ``command`` with this pipeline's ffmpeg binary."""
        await ffmpeg.run_ffmpeg(self.ffmpeg, command, on_tick, self.ffmpeg_limits)

    async def request_chunks(self, job: Attempt, requests: list[ChunkRequested]) -> None:
        """Publish chunk tasks; chunk ``i`` of a job goes to partition (hash + i) mod n, so
        consecutive chunks land on different partitions and so on different workers."""
        base = zlib.crc32(job.job_id.encode())
        envelopes = [
            new_envelope(r, source=SOURCE, correlation_id=job.correlation_id) for r in requests
        ]
        keys = [f"{r.job_id}/{r.index}".encode() for r in requests]
        await self.publisher.publish_spread(envelopes, keys, [base + r.index for r in requests])

    async def execute(self, job: Attempt) -> str:
        """Run the attempt to its end; re-raises CancelledError when abandoned (no events)."""
        if job.chunk is not None:
            job.progress = ProgressReporter(job.job_id, job.attempt, _no_ticks)
            return await execute_chunk(self, job)

        async def publish_progress(event: Any) -> None:
            await self.emit(job, event)

        job.progress = ProgressReporter(job.job_id, job.attempt, publish_progress)
        scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="vidpipe-"))
        ctx = StageContext(job.job_id, job.attempt, job.options, scratch, self, job)
        started = time.monotonic()
        result: tuple[list[JobOutput], dict[str, Any]] | JobError | StopReason
        try:
            try:
                result = await run_stages(ctx)
            except asyncio.CancelledError:
                if job.stop_reason in (None, "abandon"):
                    raise
                result = job.stop_reason
            except JobError as exc:
                result = exc
            except (StorageError, OSError) as exc:
                result = storage_error(exc, job.job_id)
            except Exception as exc:  # a bug must not wedge the partition: retry, then fail
                log.exception("attempt crashed", extra={"job_id": job.job_id})
                # the exception's text may hold server paths: the log has it, the user not
                message = f"internal error ({type(exc).__name__})"
                result = JobError("internal_error", message, retryable=True)
        finally:
            if ctx.chunked:  # after the outputs are stored, or in any other outcome
                with contextlib.suppress(StorageError, OSError):
                    await asyncio.shield(remove_chunks(ctx))
            await run_cleanup(lambda: shutil.rmtree(scratch, ignore_errors=True))
        return await self._conclude(ctx, job, result, started)

    async def _conclude(
        self,
        ctx: StageContext,
        job: Attempt,
        result: tuple[list[JobOutput], dict[str, Any]] | JobError | StopReason,
        started: float,
    ) -> Outcome:
        elapsed = time.monotonic() - started
        if isinstance(result, tuple):
            await self._stage_event(job, "cleanup", "ok", 0, {"scratch_removed": True})
            outputs, metadata = result
            await self.emit(job, self._completed(job, outputs, metadata, elapsed))
            assert job.progress is not None
            await job.progress.finish()
            STAGE_DURATION.labels("job").observe(elapsed)
            return self._count(job, "completed")
        await self._remove_uploads(ctx)
        if result == "deleted":
            return "deleted"  # a deleted job accepts no more events
        await self._stage_event(job, "cleanup", "ok", 0, {"scratch_removed": True})
        if result == "cancel":
            await self.emit(
                job, JobCancelled(job_id=job.job_id, worker_id=job.worker_id, attempt=job.attempt)
            )
            return self._count(job, "cancelled")
        if result == "stalled":
            result = JobError(
                "stalled", f"no progress for {self.stall_timeout_s:g}s", retryable=True
            )
        assert isinstance(result, JobError)
        return await self.fail(job, result)

    async def fail(self, job: Attempt, error: JobError) -> Outcome:
        """End an attempt on ``error``: ``retry_scheduled`` while attempts remain, else failed."""
        if error.retryable and self.policy.may_retry(job.attempt, job.first_attempt):
            not_before = self.clock() + self.policy.delay(job.attempt, job.first_attempt)
            await self.emit(
                job,
                RetryScheduled(
                    job_id=job.job_id,
                    attempt=job.attempt + 1,
                    not_before=not_before,
                    reason=f"{error.code}: {error.message}",
                    processing_options=job.options,
                ),
            )
            return self._count(job, "retried")
        await self.emit(
            job,
            JobFailed(
                job_id=job.job_id,
                error_code=error.code,
                message=error.message,
                retryable=error.retryable,
                attempt=job.attempt,
                worker_id=job.worker_id,
            ),
        )
        return self._count(job, "failed")

    def _completed(
        self, job: Attempt, outputs: list[JobOutput], metadata: dict[str, Any], elapsed: float
    ) -> JobCompleted:
        return JobCompleted(
            job_id=job.job_id,
            worker_id=job.worker_id,
            attempt=job.attempt,
            outputs=outputs,
            metadata=metadata,
            duration_ms=int(elapsed * 1000),
        )

    def _count(self, job: Attempt, outcome: Outcome) -> Outcome:
        JOBS_PROCESSED.labels(outcome, self.process_id).inc()
        log.info("attempt ended: %s", outcome, extra={"job_id": job.job_id})
        return outcome

    async def _remove_uploads(self, ctx: StageContext) -> None:
        """Partial outputs of this attempt go; earlier runs' files under other keys stay."""
        for key in ctx.uploaded:
            try:
                await self.store.delete(key)
            except StorageError:
                log.warning("could not remove partial output %s", key)

    async def _stage_event(
        self,
        job: Attempt,
        operation: str,
        status: Literal["ok", "failed", "skipped"],
        duration_ms: int,
        metadata: dict[str, Any],
    ) -> None:
        await self.emit(
            job,
            StageCompleted(
                job_id=job.job_id,
                worker_id=job.worker_id,
                attempt=job.attempt,
                operation=operation,
                status=status,
                duration_ms=duration_ms,
                metadata=metadata,
            ),
        )

    async def timed_stage(self, ctx: StageContext, name: str, body: StageBody[T]) -> T:
        """Run one stage: progress at its start, a ``stage_completed`` at its end."""
        job = ctx.job
        assert job.progress is not None
        await job.progress.update(name, 0.0)
        begun = time.monotonic()
        try:
            metadata, value = await body()
        except JobError as exc:
            spent = int((time.monotonic() - begun) * 1000)
            await self._stage_event(job, name, "failed", spent, {"error_code": exc.code})
            raise
        spent_s = time.monotonic() - begun
        STAGE_DURATION.labels(name).observe(spent_s)
        await self._stage_event(job, name, "ok", int(spent_s * 1000), metadata)
        return value
