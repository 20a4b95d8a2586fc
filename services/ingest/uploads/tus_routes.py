"""tus 1.0 resumable uploads under ``/uploads/``: core protocol, creation (with upload),
termination, expiration and checksum (sha1, sha256).

The last chunk runs the same path as ``POST /upload`` (probe, ``submitted`` with acks) and
answers 204 like every PATCH, the job's id in ``Upload-Job-Id`` (and a ``Link`` to it). A PATCH
holds the upload's lease (423 to a second one) within per-user and per-process caps (429), and is
cut off with 408 after ``UPLOAD_STALL_TIMEOUT_S`` without a byte (what arrived is kept). Errors
carry the JSON error body, except on HEAD (no body). Rules of the wire format: ``tus_protocol``;
of storage and state: ``resumable``; this module only maps HTTP onto them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.envelope import Envelope
from services.core.access.tokens import Principal
from services.core.http.errors import ApiError, not_found
from services.core.http.openapi import model_response
from services.core.runtime.clock import Clock
from services.core.runtime.settings import Settings
from services.ingest.adapters.resumable import (
    ChecksumMismatch,
    QuotaReached,
    ResumableUploads,
    TooManyWrites,
    UploadBusy,
    UploadLimitReached,
)
from services.ingest.adapters.upload_records import Lease, UploadRecord
from services.ingest.dependencies import authenticate, endpoint
from services.ingest.http.resources import Job
from services.ingest.http.tus_protocol import (
    CHECKSUM_ALGORITHMS,
    EXTENSIONS,
    OFFSET_CONTENT_TYPE,
    TUS_VERSION,
    BeyondLength,
    OffsetMismatch,
    http_date,
    parse_checksum,
    parse_integer,
    parse_metadata,
    patch_budget,
    upload_fields,
)
from services.ingest.jobs.queries import usage
from services.ingest.uploads.rules import Allowance
from services.ingest.uploads.submission import (
    StoredSource,
    Submission,
    parse_options_json,
    safe_filename,
)
from services.ingest.uploads.tus_docs import CREATE, DELETE, HEAD, OPTIONS, PATCH, UploadStatus
from services.ingest.uploads.tus_requests import ChunkBody, tus_endpoint


@OPTIONS
@tus_endpoint
@endpoint
async def tus_options(request: Request, settings: Settings) -> Response:
    return Response(
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": ",".join(EXTENSIONS),
            "Tus-Max-Size": str(settings.max_file_size),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
        },
    )


@CREATE
@tus_endpoint
@endpoint
async def create_upload(
    request: Request,
    settings: Settings,
    engine: AsyncEngine,
    resumable: ResumableUploads,
    submission: Submission,
) -> Response:
    principal = _begin(request)
    if "upload-defer-length" in request.headers:
        raise ApiError(400, "invalid_tus_header", "Upload-Defer-Length is not supported")
    length = parse_integer(request.headers.get("upload-length"), "Upload-Length")
    _check_size(settings, length)
    allowance = await Allowance.of(engine, settings, principal)  # quotas, before a byte is stored
    if length > allowance.max_bytes():
        raise allowance.storage_refusal()
    raw_metadata = request.headers.get("upload-metadata", "")
    fields = upload_fields(parse_metadata(raw_metadata))
    parse_options_json(fields.options)  # refuse bad options now, not after the last byte
    with_body = "content-type" in request.headers
    if with_body:
        _check_content_type(request)
    try:
        record = await resumable.create(
            principal.user_id,
            length,
            allowance.budget(),
            filename=safe_filename(fields.filename),
            options=fields.options.decode() if fields.options else None,
            batch_id=fields.batch_id,
            metadata_header=raw_metadata,
        )
    except UploadLimitReached:
        limit = settings.max_unfinished_uploads
        raise ApiError(
            403,
            "too_many_unfinished_uploads",
            f"at most {limit} unfinished uploads per user (MAX_UNFINISHED_UPLOADS): "
            "finish or terminate one first",
        ) from None
    except QuotaReached:
        raise allowance.storage_refusal() from None
    url = f"/uploads/{record.id}"
    headers: dict[str, str] = {"Location": url}
    job: Job | None = None
    try:
        if with_body:
            async with _writing(resumable, record) as lease:
                record, published = await _receive(
                    request, settings, engine, resumable, lease, submission, principal
                )
                headers |= _progress(record)
            if published is not None:
                job = (await submission.views(*published))[0]
                headers |= _done(record, job.id)
        else:
            headers |= _progress(record)
    except ApiError as exc:
        exc.headers["Location"] = url  # the upload exists: the client may resume it
        raise
    status = UploadStatus(
        id=record.id,
        url=url,
        offset=record.offset,
        length=record.length,
        expires_at=None if job else record.expires_at.isoformat().replace("+00:00", "Z"),
        job=job,
    )
    return model_response(status, status_code=201, headers=headers)


@HEAD
@tus_endpoint
@endpoint
async def head_upload(request: Request, resumable: ResumableUploads, clock: Clock) -> Response:
    try:
        principal = _begin(request)
        record = await _owned(request, resumable, clock, principal)
    except ApiError as exc:  # HEAD answers carry no body
        return Response(status_code=exc.status, headers=exc.headers)
    headers = {"Upload-Length": str(record.length), "Cache-Control": "no-store"}
    if record.metadata_header:
        headers["Upload-Metadata"] = record.metadata_header
    return Response(status_code=200, headers=_progress(record) | headers)


@PATCH
@tus_endpoint
@endpoint
async def patch_upload(
    request: Request,
    settings: Settings,
    engine: AsyncEngine,
    resumable: ResumableUploads,
    clock: Clock,
    submission: Submission,
) -> Response:
    principal = _begin(request)
    _check_content_type(request)
    record = await _owned(request, resumable, clock, principal)
    async with _writing(resumable, record) as lease:
        record, published = await _receive(
            request, settings, engine, resumable, lease, submission, principal
        )
    if published is None:
        return Response(status_code=204, headers=_progress(record))
    envelopes, positions = published
    await submission.job_log.projected(positions)  # read your writes: GET /jobs shows the job
    return Response(status_code=204, headers=_done(record, envelopes[0].event.job_id))


@DELETE
@tus_endpoint
@endpoint
async def delete_upload(request: Request, resumable: ResumableUploads, clock: Clock) -> Response:
    principal = _begin(request)
    record = await _owned(request, resumable, clock, principal, expired_ok=True)
    try:
        await resumable.remove(record)
    except UploadBusy:
        raise _busy() from None
    return Response(status_code=204)


def _begin(request: Request) -> Principal:
    principal = authenticate(request)
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise ApiError(
            412,
            "unsupported_tus_version",
            f"this server speaks tus {TUS_VERSION}: send Tus-Resumable: {TUS_VERSION}",
            {"Tus-Version": TUS_VERSION},
        )
    return principal


def _check_size(settings: Settings, length: int) -> None:
    if length > settings.max_file_size:
        raise ApiError(
            413,
            "file_too_large",
            f"Upload-Length exceeds MAX_FILE_SIZE ({settings.max_file_size} bytes)",
        )


def _check_content_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != OFFSET_CONTENT_TYPE:
        raise ApiError(
            415, "unsupported_media_type", f"upload chunks must be sent as {OFFSET_CONTENT_TYPE}"
        )


async def _owned(
    request: Request,
    resumable: ResumableUploads,
    clock: Clock,
    principal: Principal,
    *,
    expired_ok: bool = False,
) -> UploadRecord:
    """The caller's upload, else 404 (whether it is someone else's or does not exist)."""
    try:
        upload_id = str(uuid.UUID(request.path_params["upload_id"]))
    except ValueError:
        raise not_found("upload") from None
    record = await resumable.records.get(upload_id)
    if record is None or record.user_id != principal.user_id:
        raise not_found("upload")
    expired = record.completed_at is None and record.expires_at <= clock()
    if expired and not expired_ok:
        raise ApiError(410, "upload_expired", "the upload expired; start a new one")
    return record


@contextlib.asynccontextmanager
async def _writing(resumable: ResumableUploads, record: UploadRecord) -> AsyncIterator[Lease]:
    try:
        async with resumable.writing(record) as lease:
            yield lease
    except UploadBusy:
        raise _busy() from None
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


async def _receive(
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
        raise _busy() from None
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
        refusal.headers |= _progress(record)
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
        _progress(record) | {"Connection": "close"},
    )


def _done(record: UploadRecord, job_id: str) -> dict[str, str]:
    return {
        "Upload-Offset": str(record.offset),
        "Upload-Job-Id": job_id,
        "Link": f'</jobs/{job_id}>; rel="related"',
    }


def _progress(record: UploadRecord) -> dict[str, str]:
    headers = {"Upload-Offset": str(record.offset)}
    if record.completed_at is None:
        headers["Upload-Expires"] = http_date(record.expires_at)
    else:
        headers["Upload-Job-Id"] = record.job_id
    return headers


def _busy() -> ApiError:
    return ApiError(423, "upload_locked", "another request is writing this upload; retry later")


routes = [
    Route("/uploads/", create_upload, methods=["POST"]),
    Route("/uploads/", tus_options, methods=["OPTIONS"]),
    Route("/uploads/{upload_id}", head_upload, methods=["HEAD"]),
    Route("/uploads/{upload_id}", patch_upload, methods=["PATCH"]),
    Route("/uploads/{upload_id}", delete_upload, methods=["DELETE"]),
    Route("/uploads/{upload_id}", tus_options, methods=["OPTIONS"]),
]
