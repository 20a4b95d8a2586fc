"""``/media/...``: a job attempt's output tree through a signed, expiring URL.

Players (``<video>``, hls.js, ffmpeg) send no Bearer header: the signature is the
authorisation (``services.ingest.adapters.media_urls``). A URL opens only the files under
``outputs/{job_id}/{attempt}/``, only while the job exists and that attempt holds its current
outputs, and only until it expires. Media answers carry CORS for any origin (no credentials
are involved, so ``*`` grants nothing a URL's holder does not already have).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.core.http.errors import ApiError, error_reply, not_found
from services.core.http.openapi import Reply, operation
from services.core.runtime.clock import Clock
from services.core.storage import ObjectStore, validate_key
from services.core.storage.content import guess_content_type
from services.core.storage.keys import output_attempt, output_key
from services.ingest.adapters.media_urls import PREFIX, Grant, MediaUrlRefused, MediaUrls
from services.ingest.dependencies import RATE_LIMITED, endpoint
from services.ingest.http.delivery import stored_file
from services.ingest.jobs.queries import job_row

PLAYLIST = "application/vnd.apple.mpegurl"
EXPOSED = ["Accept-Ranges", "Content-Length", "Content-Range", "Content-Type"]


@operation(
    "A file of a job's outputs, through the signed URL `GET /jobs/{id}` gives (no token)",
    {
        200: Reply("the file (Range supported)"),
        206: Reply("a byte range"),
        307: Reply("redirect to a presigned URL (S3 storage; playlists are answered directly)"),
        403: error_reply("the signature is invalid or has expired"),
        404: error_reply("no such file in this job attempt's outputs"),
        416: Reply("range not satisfiable"),
        **RATE_LIMITED,
    },
)
@endpoint
async def media_file(
    request: Request, engine: AsyncEngine, media: MediaUrls, store: ObjectStore, clock: Clock
) -> Response:
    params = request.path_params
    now = clock().timestamp()
    try:
        grant = media.verify(
            params["job_id"], params["attempt"], params["expires"], params["signature"], now
        )
    except MediaUrlRefused as exc:
        raise ApiError(403, exc.code, exc.message) from None
    key, content_type = await _granted_file(engine, grant, params["path"])
    remaining = max(1, int(grant.expires - now))
    return await stored_file(
        store,
        key,
        content_type=content_type,
        proxy=content_type == PLAYLIST,
        presign_s=remaining,  # a presigned URL never outlives the signed one
        headers={
            "Cache-Control": f"private, max-age={remaining}",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


async def _granted_file(engine: AsyncEngine, grant: Grant, path: str) -> tuple[str, str]:
    """The key and content type of ``path`` in the granted tree; 404 for anything else."""
    try:
        key = output_key(grant.job_id, grant.attempt, validate_key(path))
    except ValueError:  # "..", empty segments, control characters: outside any tree
        raise not_found("file") from None
    row = await job_row(engine, grant.job_id)  # deleted jobs and superseded attempts open nothing
    outputs: list[dict[str, Any]] = list(row.outputs or []) if row is not None else []
    if grant.attempt not in {output_attempt(grant.job_id, o["key"]) for o in outputs}:
        raise not_found("file")
    recorded = {o["key"]: o.get("content_type") for o in outputs}
    return key, recorded.get(key) or guess_content_type(key)


class MediaCors:
    """CORS by path: media URLs for players on any origin; the rest with ``api_options``
    (Starlette's ``CORSMiddleware`` arguments, the origins ``CORS_ORIGINS`` names)."""

    def __init__(self, app: ASGIApp, /, **api_options: Any) -> None:
        self.api = CORSMiddleware(app, **api_options)
        self.media = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "HEAD"],
            allow_headers=["Range"],
            expose_headers=EXPOSED,
            max_age=3600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_media = scope["type"] == "http" and scope["path"].startswith(f"{PREFIX}/")
        await (self.media if is_media else self.api)(scope, receive, send)


routes = [
    Route(f"{PREFIX}/{{job_id}}/{{attempt}}/{{expires}}/{{signature}}/{{path:path}}", media_file),
]
