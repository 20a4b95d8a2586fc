"""Read views over the projector's read model (``jobs``, ``processing_history``)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import literal, select, tuple_
from starlette.datastructures import URL

from schemas.events import JobStatus, JobSubmitted
from services.core.http_errors import ApiError, not_found
from services.core.mediaurls import MediaUrls
from services.core.readmodel import jobs, processing_history
from services.core.storage.keys import output_attempt, output_prefix
from services.core.tokens import Principal
from services.ingest.resources import HistoryEntry, Job, JobMetadata, Output
from services.ingest.runtime import Runtime

METADATA_KEYS = ("duration_s", "width", "height", "video_codec", "audio_codec", "fps", "bitrate")


def _iso(moment: datetime | None) -> str | None:
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


def row_view(row: Any, media: MediaUrls, now: float) -> Job:
    """The public JSON of one job row, its media URLs signed with ``media`` at ``now``."""
    job_id = str(row.id)
    outputs = [_output(job_id, o, media, now) for o in row.outputs or []]
    return Job(
        id=job_id,
        user_id=str(row.user_id),
        status=row.status,
        progress=row.progress,
        original_filename=row.original_filename,
        processing_options=row.processing_options,
        error_message=row.error_message,
        created_at=_iso(row.created_at),
        started_at=_iso(row.started_at),
        completed_at=_iso(row.completed_at),
        updated_at=_iso(row.updated_at),
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
        status=JobStatus.PENDING,
        progress=0,
        original_filename=event.original_filename,
        processing_options=event.processing_options,
        error_message=None,
        created_at=_iso(now),
        started_at=None,
        completed_at=None,
        updated_at=_iso(now),
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
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise not_found() from None


async def job_row(rt: Runtime, job_id: str) -> Any:
    async with rt.engine.connect() as conn:
        return (
            await conn.execute(select(jobs).where(jobs.c.id == job_id, jobs.c.deleted_at.is_(None)))
        ).first()


async def job_view(rt: Runtime, job_id: str) -> Job | None:
    row = await job_row(rt, job_id)
    return row_view(row, rt.media, time.time()) if row is not None else None


async def owned_row(rt: Runtime, principal: Principal, raw_id: str) -> Any:
    """The job row if the caller may see it; 404 otherwise (never 403: ids do not leak)."""
    row = await job_row(rt, valid_job_id(raw_id))
    if row is None or (str(row.user_id) != principal.user_id and not principal.is_admin):
        raise not_found()
    return row


def encode_cursor(created_at: datetime, job_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        return datetime.fromisoformat(created), str(uuid.UUID(job_id))
    except (ValueError, TypeError):
        raise ApiError(422, "invalid_cursor", "cursor: not a cursor this API returned") from None


async def list_rows(
    rt: Runtime, owner: str | None, status: str | None, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    query = select(jobs).where(jobs.c.deleted_at.is_(None))
    if owner is not None:
        query = query.where(jobs.c.user_id == owner)
    if status is not None:
        query = query.where(jobs.c.status == status)
    if cursor:
        created, job_id = decode_cursor(cursor)
        after = tuple_(literal(created, jobs.c.created_at.type), literal(job_id, jobs.c.id.type))
        query = query.where(tuple_(jobs.c.created_at, jobs.c.id) < after)
    query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit + 1)
    async with rt.engine.connect() as conn:
        rows = list((await conn.execute(query)).all())
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = encode_cursor(rows[-1].created_at, str(rows[-1].id))
    return rows, following


async def history_rows(rt: Runtime, job_id: str) -> list[HistoryEntry]:
    query = (
        select(processing_history)
        .where(processing_history.c.job_id == job_id)
        .order_by(processing_history.c.created_at, processing_history.c.id)
    )
    async with rt.engine.connect() as conn:
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
            created_at=_iso(r.created_at),
        )
        for r in rows
    ]
