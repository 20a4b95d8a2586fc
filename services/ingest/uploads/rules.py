"""What an upload must clear besides being a video: the per-user quotas, and the media limits'
refusals turned into HTTP answers.

Quotas are read from the read model (the projector's ``jobs`` table): bytes of the user's
non-deleted sources and their outputs, and jobs still pending or processing; plus what the user's
tus uploads reserve (``Upload-Length`` until the job shows in the read model). They are checked
before a byte is stored and again as each file arrives or a tus upload completes; admins are
exempt. A tus creation reserves atomically; two multipart uploads racing may both pass.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.access.tokens import Principal
from services.core.db.readmodel import jobs
from services.core.http.errors import ApiError
from services.core.media.probe import ProbeError
from services.core.runtime.clock import Clock
from services.core.runtime.settings import Settings
from services.ingest.http.resources import Usage
from services.ingest.jobs.queries import usage

PRIORITY_WINDOW = timedelta(days=7)


async def recent_uploads(engine: AsyncEngine, clock: Clock, user_id: str) -> int:
    """The user's jobs created in the last :data:`PRIORITY_WINDOW` (deleted ones count too):
    a new job's turn order, as PeerTube orders transcoding (fewer recent uploads go first)."""
    since = clock() - PRIORITY_WINDOW
    query = select(func.count()).where(jobs.c.user_id == user_id, jobs.c.created_at >= since)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


class Allowance:
    """What one upload request may still add for its user (unbounded for admins)."""

    def __init__(self, max_file_size: int, current: Usage | None) -> None:
        self.max_file_size = max_file_size
        self.current = current
        self.files = 0
        self.bytes = 0

    @classmethod
    async def of(cls, engine: AsyncEngine, settings: Settings, principal: Principal) -> Allowance:
        current = None if principal.is_admin else await usage(engine, settings, principal.user_id)
        allowance = cls(settings.max_file_size, current)
        allowance.check_next_file()
        return allowance

    def check_next_file(self) -> None:
        """Raise (before the file's bytes are read) if one more job would break a quota."""
        if self.current is None:
            return
        if self.current.jobs_in_flight + self.files >= self.current.jobs_in_flight_quota:
            raise ApiError(
                429,
                "jobs_in_flight_quota",
                f"you have {self.current.jobs_in_flight} jobs pending or processing; "
                f"at most {self.current.jobs_in_flight_quota} (USER_JOBS_IN_FLIGHT): "
                "wait for some to finish",
            )
        if self.bytes_left() <= 0:
            raise self.storage_refusal()

    def bytes_left(self) -> int:
        if self.current is None:
            return self.max_file_size
        current = self.current
        used = current.storage_bytes + current.reserved_bytes + self.bytes
        return max(current.storage_quota_bytes - used, 0)

    def budget(self) -> int | None:
        """What the user's uploads may reserve in all (None: no quota)."""
        if self.current is None:
            return None
        return self.current.storage_quota_bytes - self.current.storage_bytes

    def max_bytes(self) -> int:
        """The most the next file may hold: the file size limit or what the quota leaves."""
        return min(self.max_file_size, self.bytes_left())

    def quota_binds(self) -> bool:
        return self.bytes_left() < self.max_file_size

    def storage_refusal(self) -> ApiError:
        assert self.current is not None
        return ApiError(
            413,
            "storage_quota",
            f"your jobs use {self.current.storage_bytes + self.bytes} and your unfinished uploads "
            f"reserve {self.current.reserved_bytes} of {self.current.storage_quota_bytes} bytes "
            "(USER_STORAGE_QUOTA): delete jobs or unfinished uploads to make room",
        )

    def add(self, size_bytes: int) -> None:
        self.files += 1
        self.bytes += size_bytes


def media_refusal(filename: str, exc: ProbeError) -> ApiError:
    """415 for what is not an accepted video (the message names the accepted containers when
    that is the reason), 422 with the limit as ``code`` for a video that breaks one."""
    if exc.code == "over_limit":
        return ApiError(422, exc.limit or "media_limit", f"{filename}: {exc.message}")
    return ApiError(415, "not_a_video", f"{filename}: {exc.message}")
