"""How a tus request writes an upload: under its lease and the caps (423, 429), the chunk (cut
off with 408 when it stalls), and the last byte (the quota checked again, then the path of
``POST /upload``). ``tus_routes`` maps the requests onto these."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from schemas.envelope import Envelope
from services.core.access.tokens import Principal
from services.core.http.errors import ApiError
from services.core.runtime.settings import Settings
from services.ingest.adapters.resumable import (
    ChecksumMismatch,
    ResumableUploads,
    TooManyWrites,
    UploadBusy,
)
from services.ingest.adapters.upload_records import Lease, UploadRecord
from services.ingest.http.tus_protocol import (
    BeyondLength,
    OffsetMismatch,
    http_date,
    parse_checksum,
    parse_integer,
    patch_budget,
)
from services.ingest.jobs.queries import usage
from services.ingest.uploads.rules import Allowance
from services.ingest.uploads.submission import StoredSource, Submission, parse_options_json
from services.ingest.uploads.tus_requests import ChunkBody


@contextlib.asynccontextmanager
async def writing(resumable: ResumableUploads, record: UploadRecord) -> AsyncIterator[Lease]:
    try:
        async with resumable.writing(record) as lease:
            yield lease
    except UploadBusy:
        raise busy() from None
    except TooManyWrites as exc:
        variable = f"UPLOAD_PATCHES_PER_{exc.scope.upper()}"
        raise ApiError(
            429,
            "too_many_upload_writes",
            f"at most {exc.limit} chunks may be sent at once per {exc.scope} ({variable}): "
            "retry when one is done",
            {"Retry-After": "1"},
        ) from None


Published = tuple[list[Envelope], list[tuple[int, int]]]


async def receive(
    request: Request,
    settings: Settings,
    engine: AsyncEngine,
    resumable: ResumableUploads,
    lease: Lease,
    submission: Submission,
    principal: Principal,
) -> tuple[UploadRecord, Published | None]:
    """Append the body, then submit the job if that was the last byte (under ``lease``)."""
    record = await _append(request, settings, resumable, lease)
    if record.offset == record.length and record.completed_at is None:
        current = None if principal.is_admin else await usage(engine, settings, record.user_id)
        allowance = Allowance(settings.max_file_size, current)
        return record, await _finish(resumable, submission, record, allowance)
    return record, None


async def _append(
    request: Request, settings: Settings, resumable: ResumableUploads, lease: Lease
) -> UploadRecord:
    record = lease.record
    claimed = parse_integer(request.headers.get("upload-offset", "0"), "Upload-Offset")
    checksum = parse_checksum(request.headers.get("upload-checksum"))
    declared = request.headers.get("content-length")
    body = ChunkBody(request, settings.upload_stall_timeout_s)
    try:
        patch_budget(
            stored=record.offset,
            length=record.length,
            claimed=claimed,
            content_length=None if declared is None else parse_integer(declared, "Content-Length"),
        )
        if record.completed_at is not None:
            return record
        record = await resumable.append(lease, body.chunks(), checksum, body.was_interrupted)
    except OffsetMismatch as exc:
        raise ApiError(
            409, "offset_mismatch", str(exc), {"Upload-Offset": str(exc.stored)}
        ) from None
    except BeyondLength as exc:
        raise ApiError(413, "beyond_upload_length", str(exc)) from None
    except ChecksumMismatch:
        if body.stalled:
            raise _stalled(settings, record, kept=False) from None
        message = "the chunk does not match Upload-Checksum; it was discarded"
        raise ApiError(460, "checksum_mismatch", message) from None
    except UploadBusy:
        raise busy() from None
    if body.stalled:
        raise _stalled(settings, record, kept=True)
    return record


async def _finish(
    resumable: ResumableUploads,
    submission: Submission,
    record: UploadRecord,
    allowance: Allowance,
) -> Published:
    """The last byte arrived (the caller holds the lease): the path of ``POST /upload`` from the
    probe on, after checking the quota again (outputs may have grown since the creation)."""
    if not await resumable.within_quota(record, allowance.budget()):
        refusal = allowance.storage_refusal()
        refusal.message += "; then send an empty PATCH at the end to finish this upload"
        refusal.headers |= progress(record)
        raise refusal
    stored = await resumable.assemble(record)
    source = StoredSource(record.job_id, record.filename, stored)
    options = parse_options_json(record.options.encode() if record.options else None)
    try:
        published = await submission.publish(record.user_id, [source], options, record.batch_id)
    except ApiError:  # refused, e.g. not a video: nothing of it stays, as with POST /upload
        await submission.discard([source])
        await resumable.records.delete(record.id)
        raise
    await resumable.completed(record)
    return published


def _stalled(settings: Settings, record: UploadRecord, *, kept: bool) -> ApiError:
    what = "what arrived was kept" if kept else "the chunk was discarded (Upload-Checksum)"
    return ApiError(
        408,
        "upload_stalled",
        f"no byte arrived for {settings.upload_stall_timeout_s} s (UPLOAD_STALL_TIMEOUT_S): "
        f"{what}; resume from Upload-Offset",
        progress(record) | {"Connection": "close"},
    )


def done(record: UploadRecord, job_id: str) -> dict[str, str]:
    return {
        "Upload-Offset": str(record.offset),
        "Upload-Job-Id": job_id,
        "Link": f'</jobs/{job_id}>; rel="related"',
    }


def progress(record: UploadRecord) -> dict[str, str]:
    headers = {"Upload-Offset": str(record.offset)}
    if record.completed_at is None:
        headers["Upload-Expires"] = http_date(record.expires_at)
    else:
        headers["Upload-Job-Id"] = record.job_id
    return headers


def busy() -> ApiError:
    return ApiError(423, "upload_locked", "another request is writing this upload; retry later")
