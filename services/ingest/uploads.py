"""``POST /upload``: stream sources to storage, validate by probing, publish ``submitted``.

Nothing is accepted until every file of the request is stored, probed and its event is
acknowledged by the broker (acks=all); any refusal removes what this request stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from schemas.envelope import new_envelope
from schemas.events import JobSubmitted
from schemas.options import PRESETS, InvalidOptions, ProcessingOptions, parse_options
from schemas.topics import JOBS
from services.core.http_errors import ApiError, error_reply
from services.core.logs import current_correlation_id
from services.core.openapi import Reply, model_response, operation
from services.core.probe import MediaInfo, ProbeError, probe
from services.core.readmodel import FILENAME_MAX
from services.core.storage import ObjectStore, ObjectTooLarge, StoredObject, keys
from services.ingest.admission import Allowance, media_refusal
from services.ingest.jobviews import job_view, pending_view
from services.ingest.metrics import UPLOAD_BYTES, UPLOAD_SECONDS
from services.ingest.multipart import MultipartReader, boundary_of
from services.ingest.resources import Job, UploadedJobs
from services.ingest.runtime import AUTHENTICATED, EVENT_SOURCE, Runtime, authenticate, runtime

MAX_FILES_PER_REQUEST = 20
MAX_OPTIONS_BYTES = 16 * 1024
log = logging.getLogger(__name__)


@dataclass
class StoredSource:
    job_id: str
    filename: str
    stored: StoredObject
    info: MediaInfo | None = None


def safe_filename(raw: str | None) -> str:
    """The client's filename as display metadata only: no directories, no control characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C"
    )
    name = re.sub(r"\s+", " ", name).strip() or "upload"
    return name[:FILENAME_MAX]


class UploadForm(BaseModel):
    """The multipart form of ``POST /upload`` (read as a stream by ``MultipartReader``; this
    model only describes it). Send ``file`` once per video; each becomes a job."""

    file: bytes = Field(description="a video file; repeat the part for several videos")
    options: str | None = Field(
        None,
        description=f"JSON: a preset ({', '.join(sorted(PRESETS))}) or explicit fields",
        max_length=MAX_OPTIONS_BYTES,
    )


@operation(
    "Upload one or more videos (one job each)",
    {
        202: Reply(
            "job(s) accepted: the job, or ``{jobs: [...]}`` for several files",
            (Job, UploadedJobs),
            headers={"Location": "the job's URL (one file only)"},
        ),
        400: error_reply("malformed body"),
        413: error_reply("file too large, too many files, or over the storage quota"),
        415: error_reply("not a video, or not in an accepted container format"),
        422: error_reply("no file, bad options, or a video over a media limit"),
        **AUTHENTICATED,
        429: error_reply("too many jobs in flight (or rate limited; see Retry-After)"),
    },
    body=UploadForm,
    body_media_type="multipart/form-data",
    security=("bearer",),
)
async def upload(request: Request) -> Response:
    principal = authenticate(request)
    rt = runtime(request)
    reader = MultipartReader(request.stream(), boundary_of(request.headers.get("content-type")))
    sources: list[StoredSource] = []
    started = asyncio.get_running_loop().time()
    allowance = await Allowance.of(rt, principal)  # before a byte is stored
    try:
        options_raw = await _read_parts(rt, reader, sources, allowance)
        if not sources:
            raise ApiError(422, "missing_file", "the request has no 'file' part")
        options = _options(options_raw)
        await asyncio.gather(*(_validate(rt, source) for source in sources))
        batch_id = str(uuid.uuid4()) if len(sources) > 1 else None
        envelopes = [
            new_envelope(
                _submitted(principal.user_id, s, options, batch_id),
                source=EVENT_SOURCE,
                correlation_id=current_correlation_id(),
            )
            for s in sources
        ]
        positions = await rt.publisher.publish_many(envelopes)
    except BaseException:
        await _discard(rt.store, sources)
        raise
    UPLOAD_SECONDS.observe(asyncio.get_running_loop().time() - started)
    topic = rt.settings.topic(JOBS.name)
    applied = await rt.applied.wait(topic, positions, rt.read_your_writes_s)
    views = [await _view(rt, e.event, applied) for e in envelopes]  # type: ignore[arg-type]
    if len(views) == 1:
        return model_response(
            views[0], status_code=202, headers={"Location": f"/jobs/{views[0].id}"}
        )
    return model_response(UploadedJobs(jobs=views), status_code=202)


async def _read_parts(
    rt: Runtime, reader: MultipartReader, sources: list[StoredSource], allowance: Allowance
) -> bytes | None:
    options_raw: bytes | None = None
    while (part := await reader.next_part()) is not None:
        if part.name == "file":
            if len(sources) >= MAX_FILES_PER_REQUEST:
                raise ApiError(
                    413, "too_many_files", f"at most {MAX_FILES_PER_REQUEST} files per request"
                )
            allowance.check_next_file()
            job_id = str(uuid.uuid4())
            try:
                stored = await rt.store.put_stream(
                    keys.source_key(job_id), _counted(reader), max_bytes=allowance.max_bytes()
                )
            except ObjectTooLarge:
                if allowance.quota_binds():
                    raise allowance.storage_refusal() from None
                raise ApiError(
                    413,
                    "file_too_large",
                    f"file exceeds MAX_FILE_SIZE ({rt.settings.max_file_size} bytes)",
                ) from None
            allowance.add(stored.size_bytes)
            sources.append(StoredSource(job_id, safe_filename(part.filename), stored))
        elif part.name == "options":
            options_raw = await reader.read_small(MAX_OPTIONS_BYTES)
        else:
            await reader.read_small(MAX_OPTIONS_BYTES)  # unknown small fields are ignored
    return options_raw


async def _counted(reader: MultipartReader) -> Any:
    async for chunk in reader.chunks():
        UPLOAD_BYTES.inc(len(chunk))
        yield chunk


def _options(raw: bytes | None) -> ProcessingOptions:
    try:
        value = json.loads(raw) if raw and raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "invalid_options", "options: not valid JSON") from None
    try:
        return parse_options(value)
    except InvalidOptions as exc:
        raise ApiError(422, "invalid_options", f"options: {exc}") from None


async def _validate(rt: Runtime, source: StoredSource) -> None:
    store = rt.store
    if source.stored.size_bytes == 0:
        raise ApiError(415, "not_a_video", f"{source.filename}: the file is empty")
    key = source.stored.key
    target = store.local_path(key)
    location = str(target) if target is not None else await store.presigned_url(key)
    assert location is not None
    try:
        limits = rt.settings.media_limits
        source.info = await asyncio.to_thread(probe, location, None, limits)
    except ProbeError as exc:
        raise media_refusal(source.filename, exc) from None


def _submitted(
    user_id: str, source: StoredSource, options: ProcessingOptions, batch_id: str | None
) -> JobSubmitted:
    return JobSubmitted(
        job_id=source.job_id,
        user_id=user_id,
        original_filename=source.filename,
        source_key=source.stored.key,
        source_size=source.stored.size_bytes,
        source_sha256=source.stored.sha256 or "",
        processing_options=options.to_event_dict(),
        source_metadata=source.info.as_metadata() if source.info else {},
        batch_id=batch_id,
    )


async def _discard(store: ObjectStore, sources: list[StoredSource]) -> None:
    for source in sources:
        try:
            await store.delete_prefix(keys.source_prefix(source.job_id))
        except Exception:  # the refusal matters more than the clean-up; log and go on
            log.exception("could not remove refused upload %s", source.job_id)


async def _view(rt: Runtime, event: JobSubmitted, applied: bool) -> Job:
    if applied:
        found = await job_view(rt, event.job_id)
        if found is not None:
            return found
    return pending_view(event, datetime.now(UTC))
