"""ffmpeg under its rlimits: a run over the memory or CPU limit fails naming the limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.options import parse_options
from services.core.media.probe import probe
from services.core.runtime.settings import resolve_ffmpeg
from services.transcoder.encode import command_lines as commands
from services.transcoder.encode.runner import FfmpegFailed, FfmpegLimits, run_ffmpeg
from tests.support import media


async def test_memory_and_cpu_limits_fail_readably(tmp_path: Path) -> None:
    source = media.make_video(tmp_path / "src.mp4", seconds=2.0, size="1920x1080")
    info = probe(str(source))
    command = commands.main_command(source, tmp_path, parse_options("h264-1080p"), info)
    with pytest.raises(FfmpegFailed) as starved:
        await run_ffmpeg(resolve_ffmpeg(None), command, None, FfmpegLimits(2, 256 * 1024**2))
    assert starved.value.limit == "ffmpeg exceeded the memory limit (256 MiB, FFMPEG_MEMORY)"
    assert not starved.value.killed  # not worth a retry: the same source would hit it again
    slow = commands.main_command(source, tmp_path, parse_options("vp9-720p"), info)
    with pytest.raises(FfmpegFailed) as spent:
        await run_ffmpeg(resolve_ffmpeg(None), slow, None, FfmpegLimits(2, 3 * 1024**3, 1))
    assert spent.value.limit == "ffmpeg exceeded the CPU time limit (1s, FFMPEG_CPU_SECONDS)"
    await run_ffmpeg(resolve_ffmpeg(None), command, None, FfmpegLimits())  # the defaults fit
