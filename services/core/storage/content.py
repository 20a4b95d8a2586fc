"""Content types of stored objects and the ``Content-Disposition`` of their downloads. Pure."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import quote

DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Debian's mime.types maps .ts to Qt Linguist; the pipeline's own media types win.
_MEDIA_TYPES = {
    ".ts": "video/mp2t",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
}


def guess_content_type(key: str) -> str:
    """Content type from the key's extension, defaulting to application/octet-stream."""
    suffix = Path(key).suffix.lower()
    return _MEDIA_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE


def content_disposition(filename: str) -> str:
    """An ``attachment`` header value carrying ``filename`` safely (RFC 6266 / RFC 8187)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    encoded = quote(filename, safe="")
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{encoded}"
