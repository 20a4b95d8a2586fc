"""The built browser app (``web/dist``) on the public origin, beside the API.

Which requests get the app rather than the API (the rule documented in docs/web-api.md):

- ``/assets/...`` (Vite's hashed files) and the other top-level files of the build: the file,
  cached for a year when hashed.
- A GET of an app route (``/``, ``/login``, ``/jobs/<id>``, ...): ``index.html`` so deep links
  survive a reload, except where an API route answers the same path (``/jobs``,
  ``/jobs/<id>``, ``/admin/users``): there only a request whose ``Accept`` prefers
  ``text/html`` (a browser navigating) gets the page; API clients (JSON, ``*/*``) get the API.
- Any other GET no API route answers, from a browser navigating: ``index.html`` (the app shows
  its own "not found").

Without a build, ``/`` answers a JSON 404 naming the build command.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import FileResponse, Response
from starlette.types import Message, Receive, Scope, Send

from services.core.http.errors import error_response
from services.core.http.security_headers import CSP, add_security_headers

APP_ROUTES = re.compile(r"^/(login|register|upload|jobs(/[^/]+)?|admin(/(jobs|users))?)?/?$")
BUILD_COMMAND = "cd web && npm ci && npm run build"
HASHED = "public, max-age=31536000, immutable"
NOT_HASHED = "no-cache"


def _quality(accept: str, wanted: str) -> float | None:
    """The q of ``wanted`` named explicitly in ``accept`` (None when not named)."""
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        if kind.lower() != wanted:
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value)
                except ValueError:
                    return 0.0
        return 1.0
    return None


def prefers_html(accept: str) -> bool:
    """True when ``text/html`` is asked for by name and ranks above JSON (a navigation)."""
    html = _quality(accept, "text/html")
    if not html:
        return False
    json = _quality(accept, "application/json")
    return json is None or html > json


def is_app_route(path: str) -> bool:
    return APP_ROUTES.match(path) is not None


class WebApp:
    """Answers the requests the app owns; ``answers`` says which ones those are."""

    def __init__(self, dist: Path, csp: str = CSP) -> None:
        self.dist = dist.resolve()
        self.csp = csp

    @property
    def built(self) -> bool:
        return (self.dist / "index.html").is_file()

    def _file(self, path: str) -> Path | None:
        """The build's file for ``path`` (never outside the build)."""
        relative = path.lstrip("/")
        if not relative or relative == "index.html":
            return None
        candidate = (self.dist / relative).resolve()
        if not candidate.is_relative_to(self.dist) or not candidate.is_file():
            return None
        return candidate

    def answers(self, scope: Scope, api_answers: bool) -> bool:
        """Whether this request is the app's; ``api_answers``: an API route matches it."""
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return False
        path: str = scope["path"]
        if not self.built:
            return path == "/" and not api_answers
        if self._file(path) is not None and (path.startswith("/assets/") or not api_answers):
            return True
        navigating = prefers_html(Headers(scope=scope).get("accept", ""))
        if api_answers:
            return navigating and is_app_route(path)
        return navigating or is_app_route(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(MutableHeaders(scope=message), https=https, csp=self.csp)
            await send(message)

        await self._response(scope["path"])(scope, receive, send_with_headers)

    def _response(self, path: str) -> Response:
        if not self.built:
            message = f"the web app is not built ({self.dist}): run `{BUILD_COMMAND}`"
            return error_response(404, "not_found", message)
        found = self._file(path)
        if found is not None:
            cache = HASHED if path.startswith("/assets/") else NOT_HASHED
            return FileResponse(found, headers={"Cache-Control": cache})
        return FileResponse(
            self.dist / "index.html", media_type="text/html", headers={"Cache-Control": NOT_HASHED}
        )
