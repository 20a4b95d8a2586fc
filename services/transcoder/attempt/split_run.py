"""The coordinating side of a split attempt: chunk tasks out, outcomes in, audio, stitch.

The attempt gives its slot back while it waits (``Attempt.detach``): its chunks are encoded
by the slots of the whole group, this worker's included. At most ``chunks_in_flight`` of its
chunks are requested at once, so one job cannot fill the queue ahead of other users' work.
A chunk that fails retryably is requested again up to ``chunk_tries`` times, then the attempt
fails retryably; a chunk that cannot be encoded (non-retryable) makes the attempt fall back
to a single pass. Progress is the share of the source's frames in finished chunks.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from schemas.events import ChunkRequested, StageCompleted
from schemas.options import ProcessingOptions
from services.core.media.probe import MediaInfo
from services.transcoder.attempt.model import JobError, ffmpeg_error
from services.transcoder.attempt.stagehost import StageContext
from services.transcoder.encode import command_lines as commands
from services.transcoder.encode.runner import FfmpegFailed
from services.transcoder.split import command_lines as splitcommands
from services.transcoder.split.board import (
    STITCH_OPERATION,
    chunk_prefix,
    marker_key,
)
from services.transcoder.split.planning import Chunk, SinglePass, SplitPlan
from services.transcoder.split.timeline import count_frames

log = logging.getLogger(__name__)


async def _empty() -> AsyncIterator[bytes]:
    yield b""


async def run_split(
    ctx: StageContext,
    source: Path,
    info: MediaInfo,
    options: ProcessingOptions,
    main: commands.Command,
    plan: SplitPlan,
) -> bool:
    """The ``transcode`` and ``stitch`` stages of a split attempt; False: fall back to a
    single pass (the ``transcode`` row says why)."""
    host, job = ctx.host, ctx.job
    await host.store.put_stream(marker_key(ctx.job_id, ctx.attempt), _empty())
    ctx.chunked = True
    for earlier in range(1, ctx.attempt):  # chunks a lost attempt left behind
        await host.store.delete_prefix(chunk_prefix(ctx.job_id, earlier))
    if job.detach is not None:
        job.detach()
    inbox = host.chunk_board.open(ctx.job_id, ctx.attempt)
    audio: asyncio.Task[Path | None] = asyncio.create_task(_audio(ctx, source, info, options))
    try:
        done = await host.timed_stage(ctx, "transcode", lambda: _chunks(ctx, plan, inbox))
        if isinstance(done, SinglePass):
            return False
        audio_file = await audio
        await host.timed_stage(
            ctx, STITCH_OPERATION, lambda: _stitch(ctx, info, options, main, plan, done, audio_file)
        )
        return True
    finally:
        host.chunk_board.close(ctx.job_id, ctx.attempt)
        if not audio.done():
            audio.cancel()
        await asyncio.gather(audio, return_exceptions=True)


async def _audio(
    ctx: StageContext, source: Path, info: MediaInfo, options: ProcessingOptions
) -> Path | None:
    if not info.has_audio:
        return None
    folder = ctx.scratch / "audio"
    folder.mkdir()
    command = splitcommands.audio_command(source, folder, options, info, ctx.host.ffmpeg_threads)
    try:
        await ctx.host.run_ffmpeg(command)
    except FfmpegFailed as exc:
        raise ffmpeg_error(exc, ctx.job_id) from None
    return folder / command.outputs[0].name


def _request(ctx: StageContext, plan: SplitPlan, chunk: Chunk, try_number: int) -> ChunkRequested:
    return ChunkRequested(
        job_id=ctx.job_id,
        attempt=ctx.attempt,
        index=chunk.index,
        count=len(plan.chunks),
        try_number=try_number,
        start_frame=chunk.start_frame,
        frames=chunk.frames,
        start_s=chunk.start_s,
        frame_s=plan.frame_s,
        grid_offset_s=chunk.grid_offset_s,
        processing_options=dict(ctx.raw_options),
        priority=ctx.job.priority,
        prefix=chunk_prefix(ctx.job_id, ctx.attempt),
    )


async def _chunks(
    ctx: StageContext, plan: SplitPlan, inbox: asyncio.Queue[StageCompleted]
) -> tuple[dict[str, Any], dict[int, dict[str, Any]] | SinglePass]:
    """Request chunks (a window of ``chunks_in_flight``) until every one is encoded."""
    settings = ctx.host.split_settings
    progress = ctx.job.progress
    assert progress is not None
    pending = collections.deque(plan.chunks)
    tries: dict[int, int] = {}
    waiting: dict[int, Chunk] = {}
    done: dict[int, dict[str, Any]] = {}
    workers: dict[int, str] = {}
    frames_done = 0
    while len(done) < len(plan.chunks):
        batch = []
        while pending and len(waiting) < settings.chunks_in_flight:
            chunk = pending.popleft()
            tries[chunk.index] = tries.get(chunk.index, 0) + 1
            waiting[chunk.index] = chunk
            batch.append(_request(ctx, plan, chunk, tries[chunk.index]))
        if batch:
            await ctx.host.request_chunks(ctx.job, batch)
        event = await inbox.get()
        index = event.metadata.get("index")
        if not isinstance(index, int) or index not in waiting:
            continue  # a duplicate, or the outcome of an earlier try
        if event.status == "ok":
            chunk = waiting.pop(index)
            done[index], workers[index] = event.metadata, event.worker_id
            frames_done += chunk.frames
            await progress.update("transcode", frames_done / plan.total_frames)
            continue
        if event.metadata.get("try") != tries[index]:
            continue
        message = str(event.metadata.get("message", ""))
        if not event.metadata.get("retryable"):
            log.warning("chunk %d cannot be encoded: single pass", index)
            meta = {"split": False, "fallback": "chunk_failed", "detail": message[:300]}
            return meta, SinglePass("chunk_failed", message)
        if tries[index] >= settings.chunk_tries:
            failed = f"chunk {index} failed {tries[index]} times: {message}"
            raise JobError("chunk_failed", failed, retryable=True)
        pending.appendleft(waiting.pop(index))
    meta = {"split": True, "chunks": len(plan.chunks), "frames": plan.total_frames}
    meta["workers"] = sorted(set(workers.values()))
    meta["retried"] = sorted(i for i, n in tries.items() if n > 1)
    return meta, done


async def _stitch(
    ctx: StageContext,
    info: MediaInfo,
    options: ProcessingOptions,
    main: commands.Command,
    plan: SplitPlan,
    done: dict[int, dict[str, Any]],
    audio: Path | None,
) -> tuple[dict[str, Any], None]:
    """Fetch the chunks in order, join them (``-c copy``) with the audio into the outputs."""
    folder = ctx.scratch / "chunks"
    folder.mkdir()
    listings = []
    for name in splitcommands.chunk_names(options, info):
        lines = []
        for index in range(len(plan.chunks)):
            key = done[index]["keys"][name]
            path = folder / f"{index:05d}-{name}"
            await ctx.host.store.get_to_file(key, path)
            lines.append(f"file '{path}'\n")
        listing = folder / f"{name}.txt"
        listing.write_text("".join(lines))
        listings.append(listing)
    command = splitcommands.stitch_command(listings, audio, ctx.out_dir, options, info, main)
    try:
        await ctx.host.run_ffmpeg(command)
    except FfmpegFailed as exc:
        raise ffmpeg_error(exc, ctx.job_id) from None
    meta: dict[str, Any] = {"chunks": len(plan.chunks), "frames": plan.total_frames}
    if options.format != "hls":
        frames = await asyncio.to_thread(count_frames, str(ctx.out_dir / main.outputs[0].name))
        if frames != plan.total_frames:
            raise JobError(
                "stitch_frames",
                f"stitched output has {frames} frames, the source {plan.total_frames}",
                retryable=True,
            )
    return meta, None


async def remove_chunks(ctx: StageContext) -> None:
    """The marker first (late chunks then remove their own files), then every chunk file."""
    store = ctx.host.store
    await store.delete(marker_key(ctx.job_id, ctx.attempt))
    await store.delete_prefix(chunk_prefix(ctx.job_id, ctx.attempt))
