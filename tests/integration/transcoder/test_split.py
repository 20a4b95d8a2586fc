"""Split-and-stitch against the real broker with two transcoder processes (issue 15):
chunks on both workers, the stitched output equal to a single pass, a worker SIGKILLed
mid-chunk, a cancel mid-split, HLS segment lists, and the fall-backs to a single pass."""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from schemas.events import CancelRequested, JobCompleted
from services.core.runtime.settings import Settings
from services.core.storage import ObjectStore, keys
from tests.support.eventually import eventually
from tests.support.infra import Infra
from tests.support.split import (
    chunk_rows,
    extinf,
    group_members,
    make_clip,
    media_stats,
    psnr,
    stage,
    transcoders,
)
from tests.support.transcoder import Submitter, Watcher, effective_completions, local

AAC_FRAME_S = 1024 / 48000


async def _two_workers(infra: Infra, settings: Settings, watcher: Watcher) -> None:
    group = settings.group("transcoder")

    async def both() -> bool:
        return await group_members(infra.bootstrap_servers, group) == 2

    await eventually(both, timeout=60, message="two transcoders in a stable group")


async def _completed(watcher: Watcher, job_id: str, timeout: float = 90) -> JobCompleted:
    found: list[JobCompleted] = await watcher.wait(
        lambda: effective_completions(watcher, job_id), timeout
    )
    return found[0]


def _ticks(watcher: Watcher, job_id: str) -> list[int]:
    return [e.event.progress for e in watcher.of(job_id, topic="progress")]  # type: ignore[attr-defined]


def _process(worker_id: object) -> str:
    return str(worker_id).split("/")[0]


@pytest.mark.slow
async def test_split_job_runs_on_both_workers_and_equals_a_single_pass(
    tmp_path: Path,
    infra: Infra,
    settings: Settings,
    test_env: dict[str, str],
    submit: Submitter,
    watcher: Watcher,
    store: ObjectStore,
) -> None:
    clip = make_clip(tmp_path / "src.mp4", 12)
    with transcoders(test_env, 2):
        await _two_workers(infra, settings, watcher)
        split = await submit(clip)
        single = await submit(clip, {"split": False})
        split_done = await _completed(watcher, split)
        single_done = await _completed(watcher, single)
    assert stage(watcher, split, "plan")[0]["split"] is True
    assert stage(watcher, single, "plan")[0]["reason"] == "split_disabled"
    rows = [r for r in chunk_rows(watcher, split) if r["status"] == "ok"]
    assert sorted({r["index"] for r in rows}) == list(range(6))  # 12 s in chunks of 2 s
    assert len({_process(r["worker"]) for r in rows}) == 2, rows
    assert all(isinstance(r["frames"], int) and r["frames"] == 50 for r in rows)
    assert stage(watcher, split, "stitch"), "a stitch row"
    ticks = await watcher.wait(
        lambda: _ticks(watcher, split) if 100 in _ticks(watcher, split) else []
    )
    assert ticks == sorted(ticks) and len(ticks) >= 3  # the share of frames, never backwards
    assert await store.list(keys.output_key(split, split_done.attempt, "chunks/")) == []

    ours = media_stats(local(store, split_done.outputs[0].key))
    theirs = media_stats(local(store, single_done.outputs[0].key))
    assert ours.frames == theirs.frames == 300
    assert abs(ours.video_end_s - theirs.video_end_s) <= theirs.frame_s
    assert ours.samples == theirs.samples
    assert abs(ours.audio_end_s - theirs.audio_end_s) <= AAC_FRAME_S
    gap_ours, gap_theirs = (
        ours.audio_end_s - ours.video_end_s,
        theirs.audio_end_s - theirs.video_end_s,
    )
    assert abs(gap_ours - gap_theirs) <= AAC_FRAME_S
    ours_psnr = psnr(local(store, split_done.outputs[0].key), str(clip))
    theirs_psnr = psnr(local(store, single_done.outputs[0].key), str(clip))
    assert ours_psnr >= theirs_psnr - 0.2, (ours_psnr, theirs_psnr)
    assert ours.size <= theirs.size * 1.05


@pytest.mark.slow
async def test_hls_split_has_the_single_pass_segment_list(
    tmp_path: Path,
    infra: Infra,
    settings: Settings,
    test_env: dict[str, str],
    submit: Submitter,
    watcher: Watcher,
    store: ObjectStore,
) -> None:
    clip = make_clip(tmp_path / "src.mp4", 14, size="854x480")
    with transcoders(test_env, 2, CHUNK_DURATION="4"):
        await _two_workers(infra, settings, watcher)
        split = await submit(clip, {"preset": "hls"})
        single = await submit(clip, {"preset": "hls", "split": False})
        split_done = await _completed(watcher, split)
        single_done = await _completed(watcher, single)
    assert stage(watcher, split, "plan")[0]["split"] is True
    assert len({r["index"] for r in chunk_rows(watcher, split)}) >= 3
    for rung in ("360p", "480p"):
        ours = Path(
            local(store, keys.output_key(split, split_done.attempt, f"hls/{rung}/index.m3u8"))
        )
        theirs = Path(
            local(store, keys.output_key(single, single_done.attempt, f"hls/{rung}/index.m3u8"))
        )
        assert extinf(ours) == extinf(theirs), rung
        assert len(extinf(ours)) == 4  # 14 s in 4 s segments


@pytest.mark.slow
async def test_worker_killed_mid_chunk_still_one_completion(
    tmp_path: Path,
    infra: Infra,
    settings: Settings,
    test_env: dict[str, str],
    submit: Submitter,
    watcher: Watcher,
    store: ObjectStore,
) -> None:
    clip = make_clip(tmp_path / "src.mp4", 16, size="640x360")
    with transcoders(test_env, 2) as procs:
        await _two_workers(infra, settings, watcher)
        job_id = await submit(clip)
        victim = procs[1].pid

        async def chunk_running_on_victim() -> bool:
            return bool(_ffmpeg_children(victim, job_id, b"-frames:v"))

        await eventually(
            chunk_running_on_victim, timeout=60, message="a chunk encoding on the victim"
        )
        os.kill(victim, signal.SIGKILL)
        done = await _completed(watcher, job_id, 120)
        await watcher.wait(lambda: len(effective_completions(watcher, job_id)) == 1, 5)
    stats = media_stats(local(store, done.outputs[0].key))
    assert stats.frames == 400
    plan = stage(watcher, job_id, "plan")[-1]
    assert sorted(r["index"] for r in _last_attempt_rows(watcher, job_id, done)) == list(
        range(int(plan["chunks"]))  # type: ignore[call-overload]
    )
    assert await store.list(keys.output_key(job_id, done.attempt, "chunks/")) == []


@pytest.mark.slow
async def test_cancel_mid_split_leaves_no_chunk_running_and_no_chunk_file(
    tmp_path: Path,
    infra: Infra,
    settings: Settings,
    test_env: dict[str, str],
    submit: Submitter,
    watcher: Watcher,
    store: ObjectStore,
) -> None:
    clip = make_clip(tmp_path / "src.mp4", 30, size="640x360")
    with transcoders(test_env, 2, CHUNKS_IN_FLIGHT="4"):
        await _two_workers(infra, settings, watcher)
        job_id = await submit(clip)
        await watcher.wait(lambda: chunk_rows(watcher, job_id), 60)
        await submit.send(CancelRequested(job_id=job_id, requested_by="u1"))
        await watcher.wait_type(job_id, "cancelled", 30)
        prefix = keys.output_prefix(job_id)

        async def clean() -> bool:
            return not [k for k in await store.list(prefix) if "/chunks/" in k]

        await eventually(clean, timeout=20, message="chunk files removed")
        count = len(chunk_rows(watcher, job_id))
        # no chunk still running: no chunk outcome after the cancel, anywhere, for a while
        await eventually(_no_ffmpeg_for(job_id), timeout=20, message="no chunk running")
        assert len(chunk_rows(watcher, job_id)) == count
    assert "completed" not in watcher.types(job_id)


def _last_attempt_rows(
    watcher: Watcher, job_id: str, done: JobCompleted
) -> list[dict[str, object]]:
    """Chunk rows that made the output: the latest ``ok`` row of each index."""
    rows: dict[object, dict[str, object]] = {}
    for row in chunk_rows(watcher, job_id):
        if row["status"] == "ok" and row["attempt"] == done.attempt:
            rows[row["index"]] = row
    return list(rows.values())


def _ffmpeg_children(parent: int, job_id: str, marker: bytes) -> list[int]:
    """ffmpeg processes started by ``parent`` for this job (``marker`` in their arguments)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"ffmpeg" in cmdline and job_id.encode() in cmdline:
            if marker in cmdline:
                found.append(int(pid))
    return found


def _no_ffmpeg_for(job_id: str) -> Callable[[], Awaitable[bool]]:
    """No ffmpeg process on this machine reads this job's source."""

    async def check() -> bool:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"ffmpeg" in cmdline and job_id.encode() in cmdline:
                return False
        return True

    return check


@pytest.mark.slow
async def test_a_short_job_of_another_user_is_not_held_back_by_a_flood(
    tmp_path: Path,
    infra: Infra,
    settings: Settings,
    test_env: dict[str, str],
    submit: Submitter,
    watcher: Watcher,
) -> None:
    long = make_clip(tmp_path / "long.mp4", 16, size="640x360")
    short = make_clip(tmp_path / "short.mp4", 2, size="320x240")
    with transcoders(test_env, 2, CHUNKS_IN_FLIGHT="2"):
        await _two_workers(infra, settings, watcher)
        # priorities as ingest computes them: the owner's uploads in the last days
        flood = [await submit(long, user_id="flood", priority=n) for n in range(3)]
        await watcher.wait(lambda: any(chunk_rows(watcher, j) for j in flood), 60)
        other = await submit(short, user_id="other", priority=0)
        for job_id in [other, *flood]:
            await _completed(watcher, job_id, 120)
    ends = {j: _completed_at(watcher, j) for j in [other, *flood]}
    before = [j for j in flood if ends[j] < ends[other]]
    assert len(before) <= 1, f"{len(before)} flood jobs finished before the other user's job"
    assert ends[other] < max(ends[j] for j in flood)


def _completed_at(watcher: Watcher, job_id: str) -> float:
    return min(e.time.timestamp() for e in watcher.of(job_id, "video.job.completed", topic="jobs"))
