"""tus 1.0 resumable uploads under ``/uploads/``: core protocol, creation (with upload),
termination, expiration and checksum (sha1, sha256).

The last chunk runs the same path as ``POST /upload`` (probe, ``submitted`` with acks) and
answers 204 like every PATCH, the job's id in ``Upload-Job-Id`` (and a ``Link`` to it). A PATCH
holds the upload's lease (423 to a second one) within per-user and per-process caps (429), and is
cut off with 408 after ``UPLOAD_STALL_TIMEOUT_S`` without a byte (what arrived is kept). Errors
carry the JSON error body, except on HEAD (no body). Rules of the wire format: ``tus_protocol``;
of storage and state: ``resumable``; writing under the lease: ``tus_writes``; this module maps
the requests onto them.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.access.tokens import Principal
from services.core.http.errors import ApiError, not_found
from services.core.http.openapi import model_response
from services.core.runtime.clock import Clock
from services.core.runtime.settings import Settings
from services.ingest.adapters.resumable import (
    QuotaReached,
    ResumableUploads,
    UploadBusy,
    UploadLimitReached,
)
from services.ingest.adapters.upload_records import UploadRecord
from services.ingest.dependencies import authenticate, endpoint
from services.ingest.http.resources import Job
from services.ingest.http.tus_protocol import (
    CHECKSUM_ALGORITHMS,
    EXTENSIONS,
    OFFSET_CONTENT_TYPE,
    TUS_VERSION,
    parse_integer,
    parse_metadata,
    upload_fields,
)
from services.ingest.uploads.rules import Allowance
from services.ingest.uploads.submission import (
    Submission,
    parse_options_json,
    safe_filename,
)
from services.ingest.uploads.tus_docs import CREATE, DELETE, HEAD, OPTIONS, PATCH, UploadStatus
from services.ingest.uploads.tus_requests import tus_endpoint
from services.ingest.uploads.tus_writes import busy, done, progress, receive, writing


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
            async with writing(resumable, record) as lease:
                record, published = await receive(
                    request, settings, engine, resumable, lease, submission, principal
                )
            if published is not None:
                job = (await submission.views(*published))[0]
        headers |= progress(record) if job is None else done(record, job.id)
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
    return Response(status_code=200, headers=progress(record) | headers)


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
    async with writing(resumable, record) as lease:
        record, published = await receive(
            request, settings, engine, resumable, lease, submission, principal
        )
    if published is None:
        return Response(status_code=204, headers=progress(record))
    envelopes, positions = published
    await submission.job_log.projected(positions)  # read your writes: GET /jobs shows the job
    return Response(status_code=204, headers=done(record, envelopes[0].event.job_id))


@DELETE
@tus_endpoint
@endpoint
async def delete_upload(request: Request, resumable: ResumableUploads, clock: Clock) -> Response:
    principal = _begin(request)
    record = await _owned(request, resumable, clock, principal, expired_ok=True)
    try:
        await resumable.remove(record)
    except UploadBusy:
        raise busy() from None
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


routes = [
    Route("/uploads/", create_upload, methods=["POST"]),
    Route("/uploads/", tus_options, methods=["OPTIONS"]),
    Route("/uploads/{upload_id}", head_upload, methods=["HEAD"]),
    Route("/uploads/{upload_id}", patch_upload, methods=["PATCH"]),
    Route("/uploads/{upload_id}", delete_upload, methods=["DELETE"]),
    Route("/uploads/{upload_id}", tus_options, methods=["OPTIONS"]),
]
