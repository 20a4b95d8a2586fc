"""Every reason not to split falls back to a single pass that completes, and the job's history
says why (the ``plan`` row). One in-process worker with small split settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.core.runtime.settings import Settings
from tests.support.media import make_video
from tests.support.split import SPLIT_ENV, chunk_rows, make_clip, stage
from tests.support.transcoder import StartWorker, Submitter, Watcher, effective_completions


@pytest.fixture
def settings(test_env: dict[str, str]) -> Settings:
    """The test slice with chunks of 2 s and splitting from 4 s."""
    return Settings.from_env({**test_env, **SPLIT_ENV})


def _repeated_timestamps(path: Path) -> Path:
    """Matroska whose frames come in pairs sharing one timestamp."""
    return make_video(path, seconds=8, fps=15, gop=15, audio=False, timestamps="repeated")


async def test_each_refusal_reason_runs_a_single_pass(
    tmp_path: Path,
    clips: Callable[..., Path],
    submit: Submitter,
    watcher: Watcher,
    start_worker: StartWorker,
) -> None:
    long = make_clip(tmp_path / "long.mp4", 8, size="160x120")
    cases: dict[str, tuple[Path, dict[str, Any]]] = {
        "split_disabled": (long, {"split": False}),
        "audio_only": (long, {"preset": "audio"}),
        "fps_option": (long, {"fps": 10}),
        "video_bitrate": (long, {"video_bitrate": "300k"}),
        "trim": (long, {"trim_start": 1}),
        "too_short": (make_clip(tmp_path / "short.mp4", 3, size="160x120"), {}),
        "keyframe_gap": (make_clip(tmp_path / "gop.mp4", 12, size="160x120", gop=300), {}),
        "variable_frame_rate": (clips(seconds=8, timestamps="variable"), {}),
        "irregular_timestamps": (_repeated_timestamps(tmp_path / "dup.mkv"), {}),
    }
    await start_worker(worker_count=2)
    jobs = {reason: await submit(path, options) for reason, (path, options) in cases.items()}
    for reason, job_id in jobs.items():
        await watcher.wait(lambda j=job_id: effective_completions(watcher, j), 60)
        plan = stage(watcher, job_id, "plan")
        assert plan and plan[0]["split"] is False and plan[0]["reason"] == reason, (reason, plan)
        assert not chunk_rows(watcher, job_id), reason
        assert not stage(watcher, job_id, "stitch"), reason
    # and the same long source, left to the rule, is split
    split = await submit(long)
    await watcher.wait(lambda: effective_completions(watcher, split), 60)
    assert stage(watcher, split, "plan")[0]["split"] is True
    assert len({r["index"] for r in chunk_rows(watcher, split)}) == 4
