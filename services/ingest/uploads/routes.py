"""``POST /upload``: stream sources to storage, validate by probing, publish ``submitted``.

Nothing is accepted until every file of the request is stored, probed and its event is
acknowledged by the broker (acks=all); any refusal removes what this request stored.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from schemas.options import PRESETS
from services.core.http.errors import ApiError, error_reply
from services.core.http.openapi import Reply, model_response, operation
from services.core.runtime.settings import Settings
from services.core.storage import ObjectStore, ObjectTooLarge, keys
from services.ingest.dependencies import AUTHENTICATED, authenticate, endpoint
from services.ingest.http.resources import Job, UploadedJobs
from services.ingest.metrics import UPLOAD_BYTES, UPLOAD_SECONDS
from services.ingest.uploads.multipart import MultipartReader, boundary_of
from services.ingest.uploads.rules import Allowance
from services.ingest.uploads.submission import (
    StoredSource,
    Submission,
    parse_options_json,
    safe_filename,
)

MAX_FILES_PER_REQUEST = 20
MAX_OPTIONS_BYTES = 16 * 1024


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
        422: error_reply(
            "no file, bad options, a video over a media limit, or a file the probe could not "
            "finish (it crashed or ran out of memory or time: `probe_failed`)"
        ),
        **AUTHENTICATED,
        429: error_reply("too many jobs in flight (or rate limited; see Retry-After)"),
    },
    body=UploadForm,
    body_media_type="multipart/form-data",
    security=("bearer",),
)
@endpoint
async def upload(
    request: Request,
    engine: AsyncEngine,
    settings: Settings,
    store: ObjectStore,
    submission: Submission,
) -> Response:
    principal = authenticate(request)
    reader = MultipartReader(request.stream(), boundary_of(request.headers.get("content-type")))
    sources: list[StoredSource] = []
    started = asyncio.get_running_loop().time()
    allowance = await Allowance.of(engine, settings, principal)  # before a byte is stored
    try:
        options_raw = await _read_parts(store, reader, sources, allowance)
        if not sources:
            raise ApiError(422, "missing_file", "the request has no 'file' part")
        options = parse_options_json(options_raw)
        batch_id = str(uuid.uuid4()) if len(sources) > 1 else None
        envelopes, positions = await submission.publish(
            principal.user_id, sources, options, batch_id
        )
    except BaseException:
        await submission.discard(sources)
        raise
    UPLOAD_SECONDS.observe(asyncio.get_running_loop().time() - started)
    views = await submission.views(envelopes, positions)
    if len(views) == 1:
        return model_response(
            views[0], status_code=202, headers={"Location": f"/jobs/{views[0].id}"}
        )
    return model_response(UploadedJobs(jobs=views), status_code=202)


async def _read_parts(
    store: ObjectStore, reader: MultipartReader, sources: list[StoredSource], allowance: Allowance
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
                stored = await store.put_stream(
                    keys.source_key(job_id), _counted(reader), max_bytes=allowance.max_bytes()
                )
            except ObjectTooLarge:
                if allowance.quota_binds():
                    raise allowance.storage_refusal() from None
                raise ApiError(
                    413,
                    "file_too_large",
                    f"file exceeds MAX_FILE_SIZE ({allowance.max_file_size} bytes)",
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
