"""The security headers of every answer of the public origin (API, docs and the web app).

Scripts only as files of this origin: no inline script, no eval. ``blob:`` only where the web
app needs it: hls.js plays through MediaSource (``media-src blob:``) and may run a worker.
``style-src`` keeps ``'unsafe-inline'``: component libraries set ``style`` attributes.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders


def content_security_policy(media_origins: Sequence[str] = ()) -> str:
    """The CSP; ``media_origins`` are extra origins media may come from (e.g. S3's, where
    signed media URLs redirect)."""
    extra = "".join(f" {origin}" for origin in media_origins)
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob:{extra}; media-src 'self' blob:{extra}; "
        f"connect-src 'self'{extra}; worker-src 'self' blob:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


CSP = content_security_policy()


def add_security_headers(headers: MutableHeaders, *, https: bool, csp: str = CSP) -> None:
    """Set the headers on a response that has not set them itself."""
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Content-Security-Policy", csp)
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"


def media_origins(storage_url: str, s3_endpoint_url: str | None) -> tuple[str, ...]:
    """Where players fetch media besides this origin: S3 storage answers signed media URLs with
    a redirect to a presigned URL of its endpoint."""
    if not storage_url.startswith("s3://"):
        return ()
    if s3_endpoint_url:
        scheme, _, rest = s3_endpoint_url.partition("://")
        return (f"{scheme}://{rest.split('/', 1)[0]}",)
    return ("https://*.amazonaws.com",)
