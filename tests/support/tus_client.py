"""A minimal tus 1.0 client for the tests (what any tus client does), on httpx."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from typing import Any

import httpx

from tests.support.eventually import eventually

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = {"Content-Type": "application/offset+octet-stream"}


def metadata(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def checksum(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


class Tus:
    """One user's tus calls against one server."""

    def __init__(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        self.client = client
        self.auth = {"Authorization": auth["Authorization"]}

    async def create(
        self, length: int, options: dict[str, Any] | None = None, **extra: str
    ) -> httpx.Response:
        pairs = {"filename": "clip.mp4", **extra}
        if options is not None:
            pairs["options"] = json.dumps(options)
        headers = {**self.auth, **TUS, "Upload-Length": str(length)}
        headers["Upload-Metadata"] = metadata(**pairs)
        return await self.client.post("/uploads/", headers=headers)

    async def head(self, url: str) -> httpx.Response:
        return await self.client.head(url, headers={**self.auth, **TUS})

    async def patch(self, url: str, offset: int, data: bytes, **headers: str) -> httpx.Response:
        sent = {**self.auth, **TUS, **OFFSET_TYPE, "Upload-Offset": str(offset)}
        sent.update({k.replace("_", "-"): v for k, v in headers.items()})
        return await self.client.patch(url, headers=sent, content=data)

    async def delete(self, url: str) -> httpx.Response:
        return await self.client.delete(url, headers={**self.auth, **TUS})

    async def job(self, response: httpx.Response) -> dict[str, Any]:
        """The job a final PATCH names in ``Upload-Job-Id``, once projected (a projector must
        run: ``running_projector``)."""
        url = f"/jobs/{response.headers['Upload-Job-Id']}"

        async def projected() -> dict[str, Any] | None:
            found = await self.client.get(url, headers=self.auth)
            return dict(found.json()) if found.status_code == 200 else None

        return await eventually(projected, timeout=30, message=f"{url} to be projected")

    async def send_from_stored_offset(self, url: str, data: bytes, chunk: int) -> httpx.Response:
        """What a client does on resume: ask for the offset, then send the rest in chunks; the
        final answer (204 with ``Upload-Job-Id``)."""
        head = await self.head(url)
        assert head.status_code == 200, head.headers
        offset = int(head.headers["Upload-Offset"])
        while True:
            part = data[offset : offset + chunk]
            response = await self.patch(url, offset, part, Upload_Checksum=checksum(part))
            assert response.status_code == 204, response.text
            offset = int(response.headers["Upload-Offset"])
            if "Upload-Job-Id" in response.headers:
                return response


class RawPatch:
    """A PATCH on its own socket whose body the test sends piece by piece (or never finishes):
    a stalled or trickling client, which httpx cannot be (it sends the whole body first)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(
        cls, base_url: str, path: str, headers: dict[str, str], content_length: int
    ) -> RawPatch:
        url = httpx.URL(base_url)
        reader, writer = await asyncio.open_connection(url.host, url.port)
        lines = [f"PATCH {path} HTTP/1.1", f"Host: {url.host}:{url.port}"]
        sent = {**TUS, **OFFSET_TYPE, **headers, "Content-Length": str(content_length)}
        lines += [f"{k}: {v}" for k, v in sent.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        """The status, headers (lower-case names) and body the server answered."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await self.reader.readexactly(length) if length else b""
        return int(status_line.split()[1]), headers, body

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
