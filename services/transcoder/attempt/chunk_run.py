"""One chunk task of a split attempt, on whichever worker of the group fetched it.

It encodes its frames from the stored source, checks the frame count, uploads the file(s)
under the attempt's chunk prefix with a unique name (a redone chunk never overwrites one the
attempt may be reading), and publishes its outcome as a ``stage_completed`` (operation
``chunk``). A chunk whose attempt has ended (marker gone) is skipped, or removes its upload;
a cancelled one publishes nothing and removes what it uploaded.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from schemas.events import ChunkRequested, StageCompleted
from schemas.options import InvalidOptions, parse_options
from services.core.media.probe import ProbeError, probe
from services.core.storage import ObjectNotFound, StorageError, run_cleanup
from services.core.storage.keys import source_key
from services.transcoder.attempt.model import Attempt, JobError, ffmpeg_error, storage_error
from services.transcoder.attempt.stagehost import StageHost
from services.transcoder.encode.runner import FfmpegFailed, Tick
from services.transcoder.split import command_lines as splitcommands
from services.transcoder.split.board import CHUNK_OPERATION, marker_key
from services.transcoder.split.timeline import count_frames

log = logging.getLogger(__name__)

ChunkOutcome = Literal["completed", "failed", "cancelled", "skipped"]


async def execute_chunk(host: StageHost, job: Attempt) -> ChunkOutcome:
    """Run the chunk to its outcome; re-raises CancelledError when abandoned (no event)."""
    task = job.chunk
    assert task is not None
    if not await host.store.exists(marker_key(job.job_id, job.attempt)):
        log.info("chunk %d of an ended attempt: skipped", task.index, extra={"job_id": job.job_id})
        return "skipped"
    scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="vidpipe-chunk-"))
    uploaded: list[str] = []
    begun = time.monotonic()
    try:
        try:
            keys, frames = await _encode(host, job, task, scratch, uploaded)
        except asyncio.CancelledError:
            if job.stop_reason in (None, "abandon"):
                raise
            await _remove(host, uploaded)
            if job.stop_reason != "stalled":
                return "cancelled"
            error = JobError("stalled", "no progress on the chunk", retryable=True)
        except JobError as exc:
            error = exc
        except (StorageError, OSError) as exc:
            error = storage_error(exc, job.job_id)
        else:
            if not await host.store.exists(marker_key(job.job_id, job.attempt)):
                await _remove(host, uploaded)  # the attempt ended meanwhile: leave nothing
                return "skipped"
            meta: dict[str, Any] = {"index": task.index, "count": task.count}
            meta |= {
                "try": task.try_number,
                "frames": frames,
                "media_seconds": round(frames * task.frame_s, 6),
            }
            await _outcome(host, job, "ok", begun, meta | {"keys": keys})
            return "completed"
    finally:
        await run_cleanup(lambda: shutil.rmtree(scratch, ignore_errors=True))
    await _remove(host, uploaded)
    meta = {"index": task.index, "count": task.count, "try": task.try_number}
    meta |= {"error_code": error.code, "message": error.message, "retryable": error.retryable}
    await _outcome(host, job, "failed", begun, meta)
    return "failed"


async def _encode(
    host: StageHost, job: Attempt, task: ChunkRequested, scratch: Path, uploaded: list[str]
) -> tuple[dict[str, str], int]:
    try:
        options = parse_options(task.processing_options)
    except InvalidOptions as exc:
        raise JobError("invalid_options", str(exc), retryable=False) from None
    source = await _source(host, job.job_id, scratch)
    try:
        info = await asyncio.to_thread(probe, str(source), None, host.media_limits)
    except ProbeError as exc:
        raise JobError("invalid_input", exc.message, retryable=False) from None
    command = splitcommands.chunk_command(
        source,
        scratch,
        options,
        info,
        start_s=task.start_s,
        frame_s=task.frame_s,
        frames=task.frames,
        grid_offset_s=task.grid_offset_s,
        threads=host.ffmpeg_threads,
    )
    progress = job.progress
    assert progress is not None

    async def on_tick(tick: Tick) -> None:
        total = command.media_seconds or 1.0
        await progress.update("transcode", (tick.out_time_s or 0.0) / total)

    try:
        await host.run_ffmpeg(command, on_tick)
    except FfmpegFailed as exc:
        raise ffmpeg_error(exc, job.job_id) from None
    keys: dict[str, str] = {}
    unique = uuid.uuid4().hex[:12]
    for output in command.outputs:
        path = scratch / output.name
        frames = await asyncio.to_thread(count_frames, str(path))
        if frames != task.frames:
            raise JobError(
                "chunk_frames",
                f"chunk {task.index} has {frames} frames, {task.frames} expected",
                retryable=False,
            )
        key = f"{task.prefix}{task.index:05d}-{task.try_number}-{unique}-{output.name}"
        uploaded.append(key)
        await host.store.put_file(key, path, content_type=output.content_type)
        keys[output.name] = key
    return keys, task.frames


async def _source(host: StageHost, job_id: str, scratch: Path) -> Path:
    key = source_key(job_id)
    local = host.store.local_path(key)
    if local is not None and await asyncio.to_thread(local.is_file):
        return local
    target = scratch / "source"
    try:
        await host.store.get_to_file(key, target)
    except ObjectNotFound:
        raise JobError("source_missing", "the source no longer exists", retryable=False) from None
    return target


async def _remove(host: StageHost, keys: list[str]) -> None:
    for key in keys:
        try:
            await host.store.delete(key)
        except StorageError:
            log.warning("could not remove chunk file %s", key)


async def _outcome(
    host: StageHost, job: Attempt, status: Literal["ok", "failed"], begun: float, meta: Any
) -> None:
    event = StageCompleted(
        job_id=job.job_id,
        worker_id=job.worker_id,
        attempt=job.attempt,
        operation=CHUNK_OPERATION,
        status=status,
        duration_ms=int((time.monotonic() - begun) * 1000),
        metadata=meta,
    )
    await host.emit(job, event)
