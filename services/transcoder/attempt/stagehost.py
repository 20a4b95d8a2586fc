"""What a stage may ask of the pipeline running it (:class:`StageHost`, which ``Pipeline``
implements) and what the stages of one attempt share (:class:`StageContext`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from schemas.events import ChunkRequested, Event
from services.core.media.limits import MediaLimits
from services.core.storage import ObjectStore
from services.transcoder.attempt.model import Attempt
from services.transcoder.encode import command_lines as commands
from services.transcoder.encode.runner import OnTick
from services.transcoder.split.board import ChunkBoard
from services.transcoder.split.planning import SplitSettings

T = TypeVar("T")
StageBody = Callable[[], Awaitable[tuple[dict[str, Any], T]]]
"""A stage's work: returns the ``stage_completed`` metadata and the value later stages need."""


class StageHost(Protocol):
    """What a stage may ask of the pipeline running it."""

    @property
    def store(self) -> ObjectStore:
        """Where sources are read and outputs stored."""
        ...

    async def run_ffmpeg(self, command: commands.Command, on_tick: OnTick | None = None) -> None:
        """Run ``command`` to its end; raises FfmpegFailed."""
        ...

    @property
    def ffmpeg_threads(self) -> int:
        """Threads each decoder, filter graph and encoder of a command may use."""
        ...

    @property
    def media_limits(self) -> MediaLimits:
        """What a source may declare (checked again here: options may have changed)."""
        ...

    async def emit(self, job: Attempt, event: Event) -> None:
        """Publish ``event`` for ``job``."""
        ...

    async def timed_stage(self, ctx: StageContext, name: str, body: StageBody[T]) -> T:
        """Run ``body`` as stage ``name``: progress at its start, ``stage_completed`` at its end."""
        ...

    @property
    def split_settings(self) -> SplitSettings:
        """When and how to split a job into chunks."""
        ...

    @property
    def chunk_board(self) -> ChunkBoard:
        """Where chunk outcomes arrive for the split attempts running here."""
        ...

    async def request_chunks(self, job: Attempt, requests: list[ChunkRequested]) -> None:
        """Publish chunk tasks to ``video.chunks``, spread over its partitions."""
        ...


@dataclass
class StageContext:
    """What the stages of one attempt share."""

    job_id: str
    attempt: int
    raw_options: dict[str, Any]
    scratch: Path
    host: StageHost
    job: Attempt
    uploaded: list[str] = field(default_factory=list)
    chunked: bool = False  # a split wrote chunk files: removed in every outcome

    @property
    def out_dir(self) -> Path:
        return self.scratch / "out"
