"""Sources whose headers lie, and ffmpeg failures, against a real worker and real ffmpeg.

A few KB of Matroska that says 2 s but holds frames 20 h apart fails at validation with
``duration_mismatch`` (no frame encoded); the output caps alone would bound its encode too. A
source that only its first frame decodes fails with fixed words: ffmpeg's stderr (server paths
and all) goes to the log with the job id, never to the job's message.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from schemas.events import JobFailed
from schemas.options import parse_options
from services.core.media.probe import probe
from services.core.runtime.settings import resolve_ffmpeg
from services.transcoder.encode import command_lines as commands
from services.transcoder.encode.runner import FfmpegFailed, FfmpegLimits, run_ffmpeg
from services.transcoder.split.timeline import (
    TimelineRefused,
    count_frames,
    max_packets,
    read_timeline,
)
from tests.reliability.badmedia import corrupt_after_first_frame, mkv_frames_far_apart
from tests.support import media
from tests.support.transcoder import StartWorker, Submitter, Watcher


async def test_a_header_that_understates_the_length_fails_with_duration_mismatch(
    tmp_path: Path, submit: Submitter, watcher: Watcher, start_worker: StartWorker
) -> None:
    hostile = mkv_frames_far_apart(tmp_path / "far.mkv", hours=20)
    assert hostile.stat().st_size < 64 * 1024
    assert probe(str(hostile)).duration_s == 2.0  # the probe believes the header
    await start_worker(worker_count=1)
    job_id = await submit(hostile, {"preset": "h264-480p", "fps": 30})
    failed = (await watcher.wait_type(job_id, "failed", 30)).event
    assert isinstance(failed, JobFailed)
    assert (failed.error_code, failed.retryable) == ("duration_mismatch", False)
    assert failed.message.startswith("the file says the video lasts 2 s but its frames span")
    stages = [e.event for e in watcher.of(job_id, "video.job.stage_completed")]
    ran = [(s.operation, s.status) for s in stages]  # type: ignore[attr-defined]
    assert ran == [("intake", "ok"), ("validate", "failed"), ("cleanup", "ok")]  # no encode


async def test_the_output_caps_alone_bound_the_encode_of_such_a_file(tmp_path: Path) -> None:
    hostile = mkv_frames_far_apart(tmp_path / "far.mkv", hours=20)
    info = probe(str(hostile))
    options = parse_options({"preset": "h264-480p", "fps": 30})
    command = commands.main_command(hostile, tmp_path, options, info)
    await run_ffmpeg(resolve_ffmpeg(None), command)  # 20 h at 30 fps would be 2.16 M frames
    frames = count_frames(str(tmp_path / "video.mp4"))
    assert 0 < frames <= 97  # (2 s + 10 % + 1 s) x 30 fps, and one
    with pytest.raises(TimelineRefused):  # and the split planner reads no more than that
        read_timeline(str(hostile), info.demuxer, max_packets(1.0, 2.0))


async def test_runs_over_their_output_size_or_time_budget_fail_naming_it(tmp_path: Path) -> None:
    source = media.make_video(tmp_path / "src.mp4", seconds=2.0, size="1280x720")
    info = probe(str(source))
    command = commands.main_command(source, tmp_path, parse_options("h264-720p"), info)
    ffmpeg = resolve_ffmpeg(None)
    with pytest.raises(FfmpegFailed) as large:
        await run_ffmpeg(ffmpeg, command, None, FfmpegLimits(max_output_bytes=16 * 1024))
    assert large.value.failure.code == "output_too_large"
    slow = commands.main_command(source, tmp_path, parse_options("vp9-720p"), info)
    with pytest.raises(FfmpegFailed) as late:
        await run_ffmpeg(ffmpeg, slow, None, FfmpegLimits(time_factor=0, time_floor_s=0.2))
    assert late.value.failure.code == "time_limit"
    assert late.value.failure.message.startswith("encoding took longer than its time budget")


async def test_an_ffmpeg_failure_shows_fixed_words_and_logs_the_raw_stderr(
    tmp_path: Path,
    submit: Submitter,
    watcher: Watcher,
    start_worker: StartWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clip = media.make_video(tmp_path / "clip.mp4", seconds=3.0, size="320x240", audio=False)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(corrupt_after_first_frame(clip.read_bytes()))
    probe(str(broken))  # its first frame decodes: ingest and validation accept it
    caplog.set_level(logging.WARNING, logger="services.transcoder")
    await start_worker(worker_count=1)
    job_id = await submit(broken, {"preset": "h264-480p"})
    failed = (await watcher.wait_type(job_id, "failed", 60)).event
    assert isinstance(failed, JobFailed)
    assert (failed.error_code, failed.retryable) == ("corrupt_input", False)
    assert failed.message == (
        "the video is damaged or incomplete: too much of it could not be decoded"
    )
    assert "/" not in failed.message and "@ 0x" not in failed.message
    logged = [r for r in caplog.records if getattr(r, "job_id", None) == job_id]
    raw = [str(getattr(r, "stderr", "")) for r in logged]
    assert any("Decode error rate" in text for text in raw), [r.getMessage() for r in logged]
    assert all(text not in failed.message for text in raw if text)
