"""What the OpenAPI document says about the tus routes (``services/ingest/uploads/tus_routes.py``).

The chunk bodies (``application/offset+octet-stream``) are named in the summaries, not as a
``requestBody``: OpenAPI tools (schemathesis among them) cannot generate that media type.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.core.http.errors import error_reply
from services.core.http.openapi import Param, Reply, operation
from services.ingest.dependencies import AUTHENTICATED
from services.ingest.http.resources import Job, Timestamp, Uuid
from services.ingest.http.tus_protocol import (
    CHECKSUM_ALGORITHMS,
    OFFSET_CONTENT_TYPE,
    TUS_VERSION,
)


class UploadStatus(BaseModel):
    """A resumable upload just created: how far it got, and its job once every byte arrived."""

    id: Uuid
    url: str = Field(description="the upload's URL (also in Location): HEAD, PATCH, DELETE it")
    offset: int
    length: int
    expires_at: Timestamp | None = Field(description="null once the upload became a job")
    job: Job | None = Field(description="the job, when the creation request held every byte")


_STRING = {"type": "string"}
_INTEGER = {"type": "integer", "minimum": 0}
TUS_RESUMABLE = Param(
    "Tus-Resumable", {"type": "string", "enum": [TUS_VERSION]}, "the tus version", "header"
)
UPLOAD_METADATA = Param(
    "Upload-Metadata",
    _STRING,
    "comma-separated `key base64(value)`: `filename`, `options` (JSON, as in POST /upload), "
    "`batch_id` (a UUID); other keys are kept and echoed",
    "header",
)
UPLOAD_CHECKSUM = Param(
    "Upload-Checksum",
    _STRING,
    f"`<{'|'.join(CHECKSUM_ALGORITHMS)}> <base64 digest>` of this request's body",
    "header",
)
_PROGRESS = {
    "Tus-Resumable": "always 1.0.0",
    "Upload-Offset": "bytes stored so far",
    "Upload-Expires": "when an unfinished upload is removed (each chunk pushes it back)",
}
_DONE = {
    "Tus-Resumable": "always 1.0.0",
    "Upload-Offset": "the whole length",
    "Upload-Job-Id": "once the last byte arrived: the id of the job the upload became",
    "Link": 'once the last byte arrived: </jobs/{id}>; rel="related"',
}
_COMMON = {
    400: error_reply("malformed tus header"),
    404: error_reply("no such upload (or not yours)"),
    412: error_reply("Tus-Resumable missing or not 1.0.0 (see Tus-Version)"),
    **AUTHENTICATED,
}
_CHUNK = {
    409: error_reply("Upload-Offset is not the stored offset (see Upload-Offset)"),
    415: error_reply(f"Content-Type is not {OFFSET_CONTENT_TYPE}, or the upload is not a video"),
    408: error_reply(
        "no byte for UPLOAD_STALL_TIMEOUT_S: cut off, what arrived is kept (see Upload-Offset)"
    ),
    413: error_reply("the body goes past Upload-Length, or the storage quota is used up"),
    423: error_reply("another request is writing this upload (it holds the lease)"),
    429: error_reply(
        "too many PATCHes at once (UPLOAD_PATCHES_PER_USER, UPLOAD_PATCHES_PER_PROCESS); "
        "see Retry-After"
    ),
    460: error_reply("checksum mismatch: the chunk was discarded"),
}

OPTIONS = operation(
    "tus: what this server supports (versions, extensions, maximum size, checksums)",
    {
        204: Reply(
            "capabilities",
            headers={
                "Tus-Version": "supported versions",
                "Tus-Extension": "supported extensions",
                "Tus-Max-Size": "MAX_FILE_SIZE in bytes",
                "Tus-Checksum-Algorithm": "supported checksum algorithms",
            },
        )
    },
)

CREATE = operation(
    f"tus: create a resumable upload (optionally with its first chunk as an "
    f"{OFFSET_CONTENT_TYPE} body)",
    {
        201: Reply(
            "created; Location is the upload's URL",
            UploadStatus,
            headers={"Location": "the upload's URL", **_PROGRESS, **_DONE},
        ),
        403: error_reply("too many unfinished uploads (MAX_UNFINISHED_UPLOADS)"),
        422: error_reply("bad options in Upload-Metadata"),
        **_CHUNK,
        **_COMMON,
    },
    params=(
        TUS_RESUMABLE,
        Param("Upload-Length", _INTEGER, "the size of the whole file in bytes", "header"),
        UPLOAD_METADATA,
        UPLOAD_CHECKSUM,
    ),
    security=("bearer",),
)

HEAD = operation(
    "tus: how far an upload got",
    {
        200: Reply(
            "the upload's offset, length and metadata",
            headers={
                **_PROGRESS,
                "Upload-Length": "the whole length",
                "Upload-Metadata": "as sent at creation",
                "Upload-Job-Id": "once complete: the job's id",
            },
        ),
        **{status: Reply(reply.description) for status, reply in _COMMON.items()},
        410: Reply("the upload expired"),
    },
    params=(TUS_RESUMABLE,),
    security=("bearer",),
)

PATCH = operation(
    f"tus: append a chunk (an {OFFSET_CONTENT_TYPE} body) at Upload-Offset; "
    "the last one submits the job",
    {
        204: Reply(
            "stored; after the last byte the job is submitted and named in Upload-Job-Id",
            headers={**_PROGRESS, "Upload-Job-Id": _DONE["Upload-Job-Id"], "Link": _DONE["Link"]},
        ),
        410: error_reply("the upload expired"),
        **_CHUNK,
        **_COMMON,
    },
    params=(
        TUS_RESUMABLE,
        Param("Upload-Offset", _INTEGER, "where this chunk starts", "header"),
        UPLOAD_CHECKSUM,
    ),
    security=("bearer",),
)

DELETE = operation(
    "tus: terminate an upload and remove its bytes",
    {
        204: Reply("removed", headers={"Tus-Resumable": "always 1.0.0"}),
        423: error_reply("another request is writing this upload"),
        **_COMMON,
    },
    params=(TUS_RESUMABLE,),
    security=("bearer",),
)
