"""What a followed job's events mean to the client: its status, progress, stage and ETA.

Pure, no I/O: ``Tracker.apply`` takes the notifier's event names and JSON data (docs/notifier.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.cli.client.wire import TERMINAL, Status


@dataclass
class JobView:
    """The last known state of one followed job."""

    status: str = Status.PENDING
    progress: int = 0
    stage: str = ""
    eta_s: float | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


class Tracker:
    """The followed jobs by id; events of other jobs are ignored."""

    def __init__(self, job_ids: Iterable[str]) -> None:
        self.jobs = {job_id: JobView() for job_id in job_ids}

    def apply(self, name: str, data: Mapping[str, Any]) -> str | None:
        """Apply one event; the id of the job it changed, or ``None``."""
        job = self.jobs.get(str(data.get("job_id")))
        if job is None or job.done:
            return None
        if name == "progress_update":
            job.status = Status.PROCESSING
            job.progress = int(data.get("progress") or 0)
            job.stage = str(data.get("stage") or "")
            job.eta_s = data.get("eta")
        elif name == "job_complete":
            job.status, job.progress, job.eta_s = Status.COMPLETED, 100, None
        elif name == "error_notification":
            job.status = Status.FAILED
            job.error = data.get("error_message") or data.get("error_code")
        elif name == "job_update" and data.get("status"):
            job.status = str(data["status"])
            job.progress = int(data.get("progress") or job.progress)
        else:
            return None
        return str(data["job_id"])

    def settle(self, job_id: str, job: Mapping[str, Any]) -> None:
        """Take the status of a job as ``GET /jobs/{id}`` returned it (missed events)."""
        view = self.jobs[job_id]
        view.status, view.progress = job["status"], job["progress"]
        view.error = job.get("error_message")

    @property
    def all_done(self) -> bool:
        return all(job.done for job in self.jobs.values())

    def pending(self) -> list[str]:
        return [job_id for job_id, job in self.jobs.items() if not job.done]


def format_eta(seconds: float | None) -> str:
    """``1:05`` or ``1:02:05``; ``-`` when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def describe(name: str, job: JobView) -> str:
    """One plain line for a pipe: ``clip.mp4: processing 40% transcode eta 0:12``."""
    if job.done:
        return f"{name}: {job.status}" + (f": {job.error}" if job.error else "")
    stage = f" {job.stage}" if job.stage else ""
    eta = f" eta {format_eta(job.eta_s)}" if job.eta_s is not None else ""
    return f"{name}: {job.status} {job.progress}%{stage}{eta}"
