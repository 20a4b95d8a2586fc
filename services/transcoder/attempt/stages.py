"""The body of each pipeline stage: where the source is read, probed and turned into outputs.

Stages reach the outside world only through :class:`StageHost` (store, ffmpeg, events, stage
timing), which ``Pipeline`` implements; this module never imports the pipeline.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import av

from schemas.events import JobOutput, JobStarted
from schemas.options import InvalidOptions, ProcessingOptions, parse_options
from services.core.media.limits import MediaLimits, allowed_seconds, check_span
from services.core.media.probe import MediaInfo, ProbeError, probe
from services.core.media.span import measure_span
from services.core.storage import ObjectNotFound
from services.core.storage.keys import output_key, source_key
from services.transcoder.attempt.model import JobError, ffmpeg_error
from services.transcoder.attempt.split_run import run_split
from services.transcoder.attempt.stagehost import StageBody, StageContext, StageHost
from services.transcoder.encode import command_lines as commands
from services.transcoder.encode.runner import FfmpegFailed, Tick
from services.transcoder.split.planning import SinglePass, SplitPlan, plan, refuse_early

__all__ = ["StageBody", "StageContext", "StageHost", "run_stages"]
from services.transcoder.split.timeline import TimelineRefused, max_packets, read_timeline


async def run_stages(ctx: StageContext) -> tuple[list[JobOutput], dict[str, Any]]:
    """Every stage in order; returns the outputs and the job's metadata."""
    stage = ctx.host.timed_stage
    job = ctx.job
    await ctx.host.emit(
        job, JobStarted(job_id=ctx.job_id, worker_id=job.worker_id, attempt=ctx.attempt)
    )
    await stage(ctx, "intake", lambda: _intake(ctx))
    source, info, options = await stage(ctx, "validate", lambda: _validate(ctx))
    decision = await stage(ctx, "plan", lambda: _plan(ctx, source, info, options))
    ctx.out_dir.mkdir()
    await stage(ctx, "metadata", lambda: _metadata(ctx, source, info))
    threads = ctx.host.ffmpeg_threads
    main = commands.main_command(source, ctx.out_dir, options, info, threads)
    if not isinstance(decision, SplitPlan) or not await run_split(
        ctx, source, info, options, main, decision
    ):
        await stage(ctx, "transcode", lambda: _transcode(ctx, main))
    preview = commands.preview_command(source, ctx.out_dir, info, threads)
    await stage(ctx, "preview", lambda: _ffmpeg_stage(ctx, "preview", preview))
    names = [*main.outputs, commands.Output("thumbnail.jpg", "image/jpeg")]
    names += list(preview.outputs)
    analytics = await stage(ctx, "analytics", lambda: _analytics(ctx, source, main, names))
    outputs = await stage(ctx, "store", lambda: _store(ctx, names))
    return outputs, {"source": info.as_metadata() | {"rotation": info.rotation}, **analytics}


async def _intake(ctx: StageContext) -> tuple[dict[str, Any], None]:
    return {"worker_id": ctx.job.worker_id, "attempt": ctx.attempt}, None


async def _validate(
    ctx: StageContext,
) -> tuple[dict[str, Any], tuple[Path, MediaInfo, ProcessingOptions]]:
    try:
        options = parse_options(ctx.raw_options)
    except InvalidOptions as exc:
        raise JobError("invalid_options", str(exc), retryable=False) from None
    store = ctx.host.store
    key = source_key(ctx.job_id)
    local = store.local_path(key)
    if local is not None and await asyncio.to_thread(local.is_file):
        source = local  # no copy on local storage: ffmpeg reads the stored file
    else:
        source = ctx.scratch / "source"
        try:
            await store.get_to_file(key, source)
        except ObjectNotFound:
            raise JobError(
                "source_missing", "the uploaded source no longer exists", retryable=False
            ) from None
    limits = ctx.host.media_limits
    try:
        info = await asyncio.to_thread(probe, str(source), None, limits)
    except ProbeError as exc:
        raise JobError("invalid_input", exc.message, retryable=False) from None
    info = await _real_span(source, info, limits)
    if options.format == "m4a" and not info.has_audio:
        raise JobError(
            "invalid_options",
            "the audio preset needs a source with an audio track",
            retryable=False,
        )
    metadata = {
        "format": info.format_name,
        **info.as_metadata(),
        "options": options.to_event_dict(),
    }
    return metadata, (source, info, options)


async def _real_span(source: Path, info: MediaInfo, limits: MediaLimits) -> MediaInfo:
    """Refuse a source whose packets run past its declared duration (``duration_mismatch``);
    one that declares none gets the span its packets cover as its duration."""
    declared = info.duration_s
    stop = limits.max_duration_s if declared is None else allowed_seconds(declared)
    span = await asyncio.to_thread(
        measure_span, str(source), info.demuxer, declared_s=declared, stop_after_s=stop
    )
    over = check_span(limits, declared, span)
    if over is not None:
        raise JobError(over.code, over.message, retryable=False)
    return info if declared is not None else dataclasses.replace(info, duration_s=round(span, 3))


async def _plan(
    ctx: StageContext, source: Path, info: MediaInfo, options: ProcessingOptions
) -> tuple[dict[str, Any], SplitPlan | SinglePass]:
    """Split or single pass; the history row says which, and why not."""
    settings = ctx.host.split_settings
    decision: SplitPlan | SinglePass | None
    decision = refuse_early(options, info.duration_s, settings.min_duration_s)
    if decision is None:
        limit = max_packets(info.guessed_fps or info.fps, info.duration_s)
        try:
            timeline = await asyncio.to_thread(read_timeline, str(source), info.demuxer, limit)
        except TimelineRefused as exc:
            decision = SinglePass("irregular_timestamps", exc.reason)
        except (av.error.FFmpegError, IndexError) as exc:
            # the library's words only: its message also names the file (a server path)
            reason = exc.strerror if isinstance(exc, av.error.FFmpegError) else "no video"
            decision = SinglePass("irregular_timestamps", f"unreadable packets: {reason}")
        else:
            decision = plan(
                options,
                info.duration_s,
                timeline,
                chunk_duration_s=settings.chunk_duration_s,
                min_duration_s=settings.min_duration_s,
                segment_s=commands.HLS_SEGMENT_S,
            )
    if isinstance(decision, SinglePass):
        return {"split": False, "reason": decision.reason, "detail": decision.detail}, decision
    durations = [round(c.frames * decision.frame_s, 3) for c in decision.chunks]
    meta = {"split": True, "chunks": len(decision.chunks), "frames": decision.total_frames}
    return meta | {"chunk_seconds": durations}, decision


async def _metadata(
    ctx: StageContext, source: Path, info: MediaInfo
) -> tuple[dict[str, Any], None]:
    at = commands.thumbnail_time(info)
    threads = ctx.host.ffmpeg_threads
    try:
        await ctx.host.run_ffmpeg(
            commands.thumbnail_command(source, ctx.out_dir, info, at, threads)
        )
        found = (ctx.out_dir / "thumbnail.jpg").exists()
    except FfmpegFailed as exc:
        if exc.killed or exc.limit:
            raise ffmpeg_error(exc, ctx.job_id) from None
        found = False
    if not found:
        at = 0.0  # a seek past the last decodable frame: take the first one
        await _ffmpeg_stage(
            ctx, "metadata", commands.thumbnail_command(source, ctx.out_dir, info, at, threads)
        )
    metadata = {
        **info.as_metadata(),
        "rotation": info.rotation,
        "format": info.format_name,
        "has_audio": info.has_audio,
        "thumbnail_at_s": at,
    }
    return metadata, None


async def _transcode(ctx: StageContext, command: commands.Command) -> tuple[dict[str, Any], None]:
    progress = ctx.job.progress
    assert progress is not None
    total = command.media_seconds

    async def on_tick(tick: Tick) -> None:
        fraction = 0.0
        if total and tick.out_time_s is not None:
            fraction = tick.out_time_s / total
        await progress.update("transcode", fraction, fps=tick.fps, speed=tick.speed)

    try:
        await ctx.host.run_ffmpeg(command, on_tick)
    except FfmpegFailed as exc:
        raise ffmpeg_error(exc, ctx.job_id) from None
    return {"outputs": [o.name for o in command.outputs], "media_seconds": total}, None


async def _ffmpeg_stage(
    ctx: StageContext, stage: str, command: commands.Command
) -> tuple[dict[str, Any], None]:
    try:
        await ctx.host.run_ffmpeg(command)
    except FfmpegFailed as exc:
        raise ffmpeg_error(exc, ctx.job_id) from None
    return {"outputs": [o.name for o in command.outputs]}, None


async def _analytics(
    ctx: StageContext, source: Path, main: commands.Command, outputs: list[commands.Output]
) -> tuple[dict[str, Any], dict[str, Any]]:
    def measure() -> dict[str, Any]:
        source_size = source.stat().st_size
        files = [p for p in ctx.out_dir.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        main_dir_files = [
            p
            for p in files
            if p.relative_to(ctx.out_dir).parts[0] in {o.name.split("/")[0] for o in main.outputs}
        ]
        main_size = sum(p.stat().st_size for p in main_dir_files)
        seconds = main.media_seconds or 0.0
        sizes = {o.name: (ctx.out_dir / o.name).stat().st_size for o in outputs}
        return {
            "source_size_bytes": source_size,
            "output_sizes_bytes": sizes,
            "output_total_bytes": total,
            "main_output_bytes": main_size,
            "main_bitrate_bps": int(main_size * 8 / seconds) if seconds else None,
            "compression_ratio": round(source_size / main_size, 3) if main_size else None,
            "files": len(files),
        }

    figures = await asyncio.to_thread(measure)
    return figures, {"analytics": figures}


async def _store(
    ctx: StageContext, named: list[commands.Output]
) -> tuple[dict[str, Any], list[JobOutput]]:
    store = ctx.host.store
    types = {o.name: o.content_type for o in named}
    files = await asyncio.to_thread(
        lambda: sorted(p for p in ctx.out_dir.rglob("*") if p.is_file())
    )
    stored: dict[str, JobOutput] = {}
    total = 0
    names = [path.relative_to(ctx.out_dir).as_posix() for path in files]
    for path, name in zip(files, names, strict=True):
        key = output_key(ctx.job_id, ctx.attempt, name)
        ctx.uploaded.append(key)
        obj = await store.put_file(key, path, content_type=types.get(name))
        total += obj.size_bytes
        if name in types:
            stored[name] = JobOutput(
                name=name, key=key, content_type=types[name], size_bytes=obj.size_bytes
            )
    outputs = [stored[o.name] for o in named if o.name in stored]
    # every stored file by name, segments included: the outputs list only the entry points
    return {"files": len(files), "bytes": total, "stored": names}, outputs
