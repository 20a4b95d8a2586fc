"""Restarts and lost workers: decisions rebuilt from the log, two processes and a SIGKILL."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from schemas.events import JobCompleted, JobStarted
from services.core.media.probe import probe
from services.core.storage import ObjectStore
from tests.support.transcoder import (
    StartWorker,
    Submitter,
    Watcher,
    effective_completions,
    local,
    transcoder_processes,
)


async def test_restart_does_not_redo_finished_jobs_and_retries_orphans(
    clips: Callable[..., Path], submit: Submitter, watcher: Watcher, start_worker: StartWorker
) -> None:
    clip = clips()
    # A previous worker finished `done` and died mid-`orphan`, both before committing.
    done, orphan = await submit(clip), await submit(clip)
    await submit.send(JobStarted(job_id=done, worker_id="gone:1/0", attempt=1))
    await submit.send(
        JobCompleted(job_id=done, worker_id="gone:1/0", attempt=1, outputs=[], duration_ms=1)
    )
    await submit.send(JobStarted(job_id=orphan, worker_id="gone:1/1", attempt=1))
    await start_worker(retry_base_delay_s=0.1)
    await watcher.wait_type(orphan, "completed", 30)
    retry = watcher.of(orphan, "video.job.retry_scheduled")[0].event
    assert retry.attempt == 2 and "worker_lost" in retry.reason  # type: ignore[attr-defined]
    fresh = await submit(clip)
    await watcher.wait_type(fresh, "completed", 30)
    assert watcher.types(done) == ["submitted", "started", "completed"]
    assert len(effective_completions(watcher, orphan)) == 1


@pytest.mark.slow
async def test_two_processes_one_killed_mid_job(
    clips: Callable[..., Path],
    submit: Submitter,
    watcher: Watcher,
    store: ObjectStore,
    test_env: dict[str, str],
) -> None:
    flags = ["--session-timeout-ms", "6000", "--retry-delay", "0.2", "--rebalance-grace", "5"]
    with transcoder_processes(test_env, 2, flags, WORKER_COUNT="1") as workers:
        clip = clips(seconds=3.0, size="640x360")
        jobs = [
            await submit(clip, {"preset": "vp9-720p"}, job_id=str(uuid.uuid4())) for _ in range(4)
        ]
        pids = {proc.pid for proc in workers}

        def busy_worker() -> int | None:
            """The pid of one of the two processes running a job that is not done yet.

            Whichever it is: the other process may have joined the group late and been
            given no partition before the four jobs were spread.
            """
            for job_id in jobs:
                if "completed" in watcher.types(job_id):
                    continue
                for e in watcher.of(job_id, "video.job.started"):
                    host_pid = e.event.worker_id.split("/")[0]  # type: ignore[attr-defined]
                    if (pid := int(host_pid.rsplit(":", 1)[1])) in pids:
                        return pid
            return None

        victim = await watcher.wait(busy_worker, 60)
        os.kill(victim, signal.SIGKILL)
        for job_id in jobs:
            await watcher.wait(lambda j=job_id: effective_completions(watcher, j), 90)
        redone = [j for j in jobs if any("worker_lost" in line for line in watcher.summary(j))]
        assert redone, "the victim's job was taken over"
        for job_id in jobs:
            completions = effective_completions(watcher, job_id)
            assert len(completions) == 1, watcher.summary(job_id)
            info = probe(local(store, completions[0].outputs[0].key))
            assert (info.width, info.height, info.video_codec) == (640, 360, "vp9")
            assert info.duration_s == pytest.approx(3.0, abs=0.2)
