"""How the tus routes read requests: every answer says ``Tus-Resumable``, chunks are streamed."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from services.core.http.errors import ApiError
from services.ingest.http.tus_protocol import TUS_VERSION, TusHeaderError
from services.ingest.metrics import UPLOAD_BYTES

TUS_HEADERS = {"Tus-Resumable": TUS_VERSION}
Handler = Callable[[Request], Awaitable[Response]]


def tus_endpoint(handler: Handler) -> Handler:
    """Every answer, errors included, says ``Tus-Resumable``; header errors become 400."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            response = await handler(request)
        except TusHeaderError as exc:
            raise ApiError(400, "invalid_tus_header", str(exc), TUS_HEADERS) from None
        except ApiError as exc:
            exc.headers.setdefault("Tus-Resumable", TUS_VERSION)
            raise
        response.headers["Tus-Resumable"] = TUS_VERSION
        return response

    return endpoint


class ChunkBody:
    """The request body; a client that goes away, or sends nothing for ``stall_s``, ends it
    early instead of failing it, so what arrived can be kept (unless a checksum covers the whole
    chunk)."""

    def __init__(self, request: Request, stall_s: float) -> None:
        self._request = request
        self._stall_s = stall_s
        self.interrupted = False
        self.stalled = False

    async def chunks(self) -> AsyncIterator[bytes]:
        stream = self._request.stream()
        while True:
            try:
                async with asyncio.timeout(self._stall_s):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                return
            except ClientDisconnect:
                self.interrupted = True
                return
            except TimeoutError:
                self.interrupted = self.stalled = True
                return
            UPLOAD_BYTES.inc(len(chunk))
            yield chunk

    def was_interrupted(self) -> bool:
        return self.interrupted
