"""``vidpipe transcoder`` as a process: graceful SIGTERM, abandonment after the grace period,
and its ``/health`` and ``/metrics``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from services.core.runtime.process import free_port
from tests.support.eventually import eventually
from tests.support.transcoder import Submitter, Watcher, effective_completions

pytestmark = pytest.mark.slow


class Worker:
    """One ``vidpipe transcoder`` process with a known ops port."""

    def __init__(self, env: dict[str, str], *flags: str) -> None:
        self.ops = f"http://127.0.0.1:{free_port()}"
        full = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        full.update(env, WORKER_COUNT="1", OPS_PORT=self.ops.rsplit(":", 1)[1])
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.cli",
                "transcoder",
                "--session-timeout-ms",
                "6000",
                "--retry-delay",
                "0.2",
                *flags,
            ],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def owns(self, worker_id: str) -> bool:
        return worker_id.split("/")[0].endswith(f":{self.proc.pid}")

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            response: httpx.Response = await eventually(
                lambda: client.get(self.ops + path),
                timeout=30,
                message=f"{path} to answer",
                ignoring=(httpx.TransportError,),
            )
            return response

    async def exited(self, timeout: float) -> int:
        await eventually(
            lambda: self.proc.poll() is not None, timeout=timeout, message="the worker to exit"
        )
        return self.proc.returncode

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def workers(test_env: dict[str, str]) -> Iterator[Callable[..., Worker]]:
    made: list[Worker] = []

    def make(*flags: str) -> Worker:
        made.append(Worker(test_env, *flags))
        return made[-1]

    yield make
    for worker in made:
        worker.stop()


async def started_by(watcher: Watcher, job_id: str, worker: Worker) -> None:
    await watcher.wait(
        lambda: any(
            worker.owns(e.event.worker_id)  # type: ignore[attr-defined]
            for e in watcher.of(job_id, "video.job.started")
        ),
        60,
    )


async def test_sigterm_lets_the_running_job_finish_and_metrics_show_it(
    clips: Callable[..., Path],
    submit: Submitter,
    watcher: Watcher,
    workers: Callable[..., Worker],
) -> None:
    worker = workers("--grace-period", "60")
    health = await worker.get("/health")
    assert health.status_code == 200
    job_id = await submit(clips(seconds=3.0, size="640x360"), {"preset": "vp9-720p"})
    await started_by(watcher, job_id, worker)
    in_flight = (await worker.get("/metrics")).text
    assert "transcoder_jobs_in_flight 1.0" in in_flight
    assert "transcoder_consumer_lag" in in_flight
    worker.proc.send_signal(signal.SIGTERM)
    await watcher.wait(lambda: effective_completions(watcher, job_id), 60)
    (completed,) = effective_completions(watcher, job_id)
    assert worker.owns(completed.worker_id), "finished by the worker that was told to stop"
    assert await worker.exited(30) == 0


async def test_sigterm_abandons_after_the_grace_period_and_another_worker_redoes_it(
    clips: Callable[..., Path],
    submit: Submitter,
    watcher: Watcher,
    workers: Callable[..., Worker],
) -> None:
    first = workers("--grace-period", "0.5")
    job_id = await submit(clips(seconds=8.0, size="640x360"), {"preset": "vp9-720p"})
    await started_by(watcher, job_id, first)
    first.proc.send_signal(signal.SIGTERM)
    await first.exited(15)
    assert effective_completions(watcher, job_id) == [], "the job was abandoned, not finished"
    second = workers("--grace-period", "60")
    await watcher.wait(lambda: effective_completions(watcher, job_id), 120)
    (completed,) = effective_completions(watcher, job_id)
    assert second.owns(completed.worker_id)
    metrics = (await second.get("/metrics")).text
    assert 'jobs_processed_total{status="completed"' in metrics
    assert 'job_processing_duration_seconds_count{operation="transcode"}' in metrics
