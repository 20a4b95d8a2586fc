"""Refuse request paths no route or file can name: a NUL byte (``%00``) answers 404.

Python's file APIs raise ``ValueError`` on an embedded NUL, so without this guard a path such
as ``/assets/app.js%00`` reached ``Path.resolve`` (or a storage key) and answered 500.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from services.core.http.errors import error_response


def unsafe_path(path: str) -> bool:
    """True when ``path`` (percent-decoded) holds a character no route or file name may hold."""
    return "\x00" in path


class RefuseUnsafePaths:
    """ASGI middleware: a 404 JSON error for an unsafe path, before any route or file lookup."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and unsafe_path(scope.get("path", "")):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            response = error_response(404, "not_found", "no such path")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
