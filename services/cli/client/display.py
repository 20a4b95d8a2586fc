"""What the client prints: rich progress bars on a terminal, plain or JSON lines in a pipe.

Progress goes to stderr and results (job ids, URLs, JSON) to stdout, so a pipe gets results only.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from services.cli.client.tracking import JobView, describe, format_eta


class Display:
    """One command's output. ``bars``: progress bars (a TTY without ``--no-progress``);
    ``lines``: plain progress lines on stderr; ``as_json``: results as JSON lines."""

    def __init__(self, *, no_progress: bool, as_json: bool, err: TextIO | None = None) -> None:
        self.err = err or sys.stderr
        self.as_json = as_json
        self.bars = not no_progress and self.err.isatty()
        self.lines = not no_progress and not self.bars
        self.progress: Progress | None = None

    def __enter__(self) -> Display:
        if self.bars:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[detail]}"),
                console=Console(file=self.err),
            )
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def result(self, text: str, data: Any = None) -> None:
        """A result on stdout: ``data`` as one JSON line in ``--json`` mode, else ``text``."""
        if self.as_json:
            print(json.dumps(data if data is not None else {"message": text}), flush=True)
        else:
            print(text, flush=True)

    def error(self, text: str, data: Any) -> None:
        """A failure: a JSON line on stdout in ``--json`` mode, else a line on stderr."""
        if self.as_json:
            print(json.dumps(data), flush=True)
        else:
            print(f"vidpipe: {text}", file=self.err, flush=True)

    def note(self, text: str) -> None:
        """A remark for the person (stderr), shown unless progress is off."""
        if self.progress is not None:
            self.progress.console.print(text, markup=False, highlight=False)
        elif self.lines:
            print(text, file=self.err, flush=True)

    def upload_task(self, name: str, total: int, done: int) -> UploadBar:
        return UploadBar(self, name, total, done)

    def job_task(self, name: str) -> JobBar:
        return JobBar(self, name)


class UploadBar:
    """Bytes sent of one file."""

    def __init__(self, display: Display, name: str, total: int, done: int) -> None:
        self.display, self.name, self.total = display, name, total
        self.task: TaskID | None = None
        if display.progress is not None:
            self.task = display.progress.add_task(
                f"↑ {name}", total=total, completed=done, detail=""
            )

    def update(self, offset: int) -> None:
        if self.task is not None and self.display.progress is not None:
            self.display.progress.update(self.task, completed=offset)
        else:
            self.display.note(f"{self.name}: uploaded {offset}/{self.total} bytes")


class JobBar:
    """Processing progress of one job: stage and ETA."""

    def __init__(self, display: Display, name: str) -> None:
        self.display, self.name = display, name
        self.last = ""
        self.task: TaskID | None = None
        if display.progress is not None:
            self.task = display.progress.add_task(f"⚙ {name}", total=100, detail="")

    def update(self, job: JobView) -> None:
        """Show a change; a finished job's outcome is left to the command's result line
        (``name: completed`` once, not also as the last progress line)."""
        if self.task is not None and self.display.progress is not None:
            detail = "" if job.done else f"{job.status} {job.stage} eta {format_eta(job.eta_s)}"
            self.display.progress.update(self.task, completed=job.progress, detail=detail)
            return
        if job.done:
            return
        line = describe(self.name, job)
        if line != self.last:  # a pipe gets a line per change, not per tick
            self.last = line
            self.display.note(line)
