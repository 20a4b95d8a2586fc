"""Read views over the projector's read model (``jobs``, ``processing_history``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import URL

from schemas.events import JobStatus, JobSubmitted
from services.core.access.tokens import Principal
from services.core.db.readmodel import jobs, processing_history
from services.core.domain.ids import is_canonical_id
from services.core.http.errors import not_found
from services.core.runtime.clock import Clock
from services.core.runtime.settings import Settings
from services.core.storage.keys import output_attempt, output_prefix
from services.ingest.adapters.media_urls import MediaUrls
from services.ingest.adapters.upload_records import reserved_bytes
from services.ingest.http.resources import HistoryEntry, Job, JobMetadata, Output, Usage

METADATA_KEYS = ("duration_s", "width", "height", "video_codec", "audio_codec", "fps", "bitrate")


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _output(job_id: str, output: dict[str, Any], media: MediaUrls, now: float) -> Output:
    download = str(URL(f"/jobs/{job_id}/download").include_query_params(output=output["name"]))
    attempt = output_attempt(job_id, output["key"])
    url = download  # a key outside the job's attempts (never written today) has no media URL
    if attempt is not None:
        path = output["key"].removeprefix(output_prefix(job_id, attempt))
        url = media.url(job_id, attempt, path, now)
    return Output(
        name=output["name"],
        content_type=output.get("content_type"),
        size_bytes=output.get("size_bytes"),
        url=url,
        download_url=download,
    )


def _metadata(found: dict[str, Any]) -> JobMetadata:
    return JobMetadata.model_validate({key: found.get(key) for key in METADATA_KEYS} | found)


def eta_seconds(row: Any, now: float) -> int | None:
    """Seconds until a processing job is done: the latest tick's estimate, aged by the time
    since it; else extrapolated from the progress so far; None when nothing says."""
    if row.status != JobStatus.PROCESSING:
        return None
    if row.eta_s is not None and row.progress_at is not None:
        remaining: float = row.eta_s - (now - row.progress_at.timestamp())
        return max(0, round(remaining))
    if row.started_at is not None and 0 < row.progress < 100:
        elapsed = max(0.0, now - row.started_at.timestamp())
        done = int(row.progress)
        return round(elapsed * (100 - done) / done) if done else None
    return None


def row_view(
    row: Any,
    media: MediaUrls,
    now: float,
    *,
    queue_position: int | None = None,
    username: str | None = None,
) -> Job:
    """The public JSON of one job row, its media URLs signed with ``media`` at ``now``."""
    job_id = str(row.id)
    outputs = [_output(job_id, o, media, now) for o in row.outputs or []]
    processing = row.status == JobStatus.PROCESSING
    return Job(
        id=job_id,
        user_id=str(row.user_id),
        username=username,
        status=row.status,
        progress=row.progress,
        stage=row.stage if processing else None,
        eta_seconds=eta_seconds(row, now),
        queue_position=queue_position if row.status == JobStatus.PENDING else None,
        original_filename=row.original_filename,
        processing_options=row.processing_options,
        error_message=row.error_message,
        error_code=row.error_code if row.status == JobStatus.FAILED else None,
        created_at=iso(row.created_at),
        started_at=iso(row.started_at),
        completed_at=iso(row.completed_at),
        updated_at=iso(row.updated_at),
        attempts=row.attempts,
        cancel_requested=row.cancel_requested,
        batch_id=str(row.batch_id) if row.batch_id else None,
        source_size=row.source_size,
        source_sha256=row.source_sha256,
        metadata=_metadata(dict(row.metadata or {})),
        playback_url=outputs[0].url if outputs else None,  # the first output is the main one
        outputs=outputs,
    )


def pending_view(event: JobSubmitted, now: datetime) -> Job:
    """What a job looks like before the projector has caught up with its ``submitted``."""
    return Job(
        id=event.job_id,
        user_id=event.user_id,
        username=None,
        status=JobStatus.PENDING,
        progress=0,
        stage=None,
        eta_seconds=None,
        queue_position=None,
        original_filename=event.original_filename,
        processing_options=event.processing_options,
        error_message=None,
        error_code=None,
        created_at=iso(now),
        started_at=None,
        completed_at=None,
        updated_at=iso(now),
        attempts=0,
        cancel_requested=False,
        batch_id=event.batch_id,
        source_size=event.source_size,
        source_sha256=event.source_sha256,
        metadata=_metadata(dict(event.source_metadata)),
        playback_url=None,
        outputs=[],
    )


def valid_job_id(raw: str) -> str:
    """``raw`` if it is a canonical job id; 404 for anything else (one spelling per job)."""
    if not is_canonical_id(raw):
        raise not_found()
    return raw


async def job_row(engine: AsyncEngine, job_id: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(select(jobs).where(jobs.c.id == job_id, jobs.c.deleted_at.is_(None)))
        ).first()


async def job_view(engine: AsyncEngine, media: MediaUrls, clock: Clock, job_id: str) -> Job | None:
    row = await job_row(engine, job_id)
    return row_view(row, media, clock().timestamp()) if row is not None else None


async def owned_row(engine: AsyncEngine, principal: Principal, raw_id: str) -> Any:
    """The job row if the caller may see it; 404 otherwise (never 403: ids do not leak)."""
    row = await job_row(engine, valid_job_id(raw_id))
    if row is None or (str(row.user_id) != principal.user_id and not principal.is_admin):
        raise not_found()
    return row


async def history_rows(engine: AsyncEngine, job_id: str) -> list[HistoryEntry]:
    query = (
        select(processing_history)
        .where(processing_history.c.job_id == job_id)
        .order_by(processing_history.c.created_at, processing_history.c.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        HistoryEntry(
            id=str(r.id),
            job_id=str(r.job_id),
            worker_id=r.worker_id,
            operation=r.operation,
            status=r.status,
            duration_ms=r.duration_ms,
            attempt=r.attempt,
            metadata=r.metadata,
            created_at=iso(r.created_at),
        )
        for r in rows
    ]


IN_FLIGHT = (JobStatus.PENDING.value, JobStatus.PROCESSING.value)


def output_bytes(user_id: str) -> ColumnElement[int]:
    """Bytes of the outputs of the user's non-deleted jobs: what the ``store`` stage of each
    job's latest attempt stored (segments included, which ``outputs`` does not list)."""
    stored = func.cast(processing_history.c.metadata["bytes"].astext, BigInteger)
    query = (
        select(func.coalesce(func.sum(stored), 0))
        .select_from(processing_history.join(jobs, jobs.c.id == processing_history.c.job_id))
        .where(
            jobs.c.user_id == user_id,
            jobs.c.deleted_at.is_(None),
            processing_history.c.operation == "store",
            processing_history.c.attempt == jobs.c.attempts,
        )
    )
    return query.scalar_subquery()


async def usage(engine: AsyncEngine, settings: Settings, user_id: str) -> Usage:
    """The user's stored bytes (sources and outputs), what their unfinished uploads reserve, and
    their jobs in flight, with the quotas that bound them."""
    in_flight = func.count().filter(jobs.c.status.in_(IN_FLIGHT))
    query = select(func.coalesce(func.sum(jobs.c.source_size), 0), in_flight).where(
        jobs.c.user_id == user_id, jobs.c.deleted_at.is_(None)
    )
    extra = select(output_bytes(user_id), reserved_bytes(user_id))
    async with engine.connect() as conn:
        sources, flying = (await conn.execute(query)).one()
        outputs, reserved = (await conn.execute(extra)).one()
    return Usage(
        storage_bytes=int(sources) + int(outputs),
        reserved_bytes=int(reserved),
        storage_quota_bytes=settings.user_storage_quota,
        jobs_in_flight=int(flying),
        jobs_in_flight_quota=settings.user_jobs_in_flight,
    )
