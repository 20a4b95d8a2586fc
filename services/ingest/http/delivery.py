"""Answering with a stored object: the one code path of downloads and media URLs.

Local files stream from disk with HTTP Range support; S3 objects redirect to a presigned URL,
except when ``proxy`` asks to stream them through (HLS playlists: a player resolves their
relative URIs against the URL it finally read, which must stay the signed media URL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from services.core.http.errors import not_found
from services.core.storage import ObjectStore


async def stored_file(
    store: ObjectStore,
    key: str,
    *,
    content_type: str | None,
    filename: str | None = None,
    proxy: bool = False,
    presign_s: int = 300,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The object at ``key``: a download named ``filename`` (attachment), or inline without."""
    headers = dict(headers or {})
    path = store.local_path(key)
    if path is not None:
        if not await asyncio.to_thread(path.is_file):
            raise not_found("output file")
        return FileResponse(
            path,
            media_type=content_type,
            filename=filename,
            content_disposition_type="attachment",
            headers=headers,
        )
    if proxy:
        found = await store.stat(key)
        if found is None:
            raise not_found("output file")
        headers["Content-Length"] = str(found.size_bytes)
        return StreamingResponse(store.open_range(key), media_type=content_type, headers=headers)
    url = await store.presigned_url(key, expires_s=presign_s, filename=filename)
    assert url is not None  # a store without local files presigns
    return RedirectResponse(url, status_code=307, headers=headers)
