"""A streaming multipart/form-data reader: parts are read as they arrive, never buffered whole.

Starlette's ``request.form()`` spools files to temporary files, which would write every
upload twice; this reader hands each file part's bytes straight to object storage.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from services.core.http.errors import ApiError

# room for very long client filenames (they are truncated later), still bounded
MAX_HEADER_SIZE = 64 * 1024


@dataclass(frozen=True)
class PartHeaders:
    """The headers of one part: its form field name and, for files, the client's filename."""

    name: str
    filename: str | None
    content_type: str | None


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary, or 415 when the request is not multipart/form-data."""
    try:
        kind, params = parse_options_header(content_type or "")
    except UnicodeEncodeError:  # found by fuzzing: the parser assumes latin-1 text
        kind, params = b"", {}
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ApiError(415, "unsupported_media_type", "expected a multipart/form-data body")
    return boundary


class MultipartReader:
    """Pull parts and their bytes from a request body stream, in order."""

    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes) -> None:
        self._stream = stream
        self._events: deque[tuple[str, object]] = deque()
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._eof = False
        self._parser = MultipartParser(
            boundary,
            max_header_size=MAX_HEADER_SIZE,
            callbacks={
                "on_part_begin": self._begin,
                "on_part_data": self._data,
                "on_part_end": lambda: self._events.append(("end", None)),
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done,
            },
        )

    def _begin(self) -> None:
        self._headers = {}

    def _data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", data[start:end]))

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        ctype = self._headers.get(b"content-type")
        self._events.append(
            (
                "headers",
                PartHeaders(
                    name=name,
                    filename=filename.decode("utf-8", "replace") if filename is not None else None,
                    content_type=ctype.decode("latin-1") if ctype else None,
                ),
            )
        )

    async def _next(self) -> tuple[str, object]:
        while not self._events:
            if self._eof:
                return ("done", None)
            try:
                chunk = await anext(self._stream)
            except StopAsyncIteration:
                self._eof = True
                self._finish()
                continue
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise ApiError(400, "bad_multipart", f"malformed multipart body: {exc}") from None
        return self._events.popleft()

    def _finish(self) -> None:
        try:
            self._parser.finalize()
        except MultipartParseError as exc:
            raise ApiError(400, "bad_multipart", f"malformed multipart body: {exc}") from None

    async def next_part(self) -> PartHeaders | None:
        """Skip to the next part's headers; None when the body has no more parts."""
        while True:
            kind, value = await self._next()
            if kind == "headers":
                assert isinstance(value, PartHeaders)
                return value
            if kind == "done":
                return None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The current part's bytes; a body that ends mid-part is a 400."""
        while True:
            kind, value = await self._next()
            if kind == "data":
                assert isinstance(value, bytes)
                if value:
                    yield value
            elif kind == "end":
                return
            else:
                raise ApiError(400, "bad_multipart", "the body ended in the middle of a part")

    async def read_small(self, limit: int) -> bytes:
        """The current part whole, for small fields such as ``options``."""
        data = b""
        async for chunk in self.chunks():
            data += chunk
            if len(data) > limit:
                raise ApiError(413, "payload_too_large", f"form field larger than {limit} bytes")
        return data
