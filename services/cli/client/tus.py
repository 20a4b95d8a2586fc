"""A small tus 1.0 client (core, creation, checksum) on the authenticated ``Api``.

``encode_metadata`` and ``checksum_header`` are the pure wire format; ``TusUpload`` sends a file
in chunks from the offset the server reports, so an interrupted upload continues where it was.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from services.cli.client.api import Api, ClientError, check, server_message

TUS = {"Tus-Resumable": "1.0.0"}
DEFAULT_CHUNK = 8 * 1024 * 1024
BUSY_RETRIES = 30


def encode_metadata(pairs: Mapping[str, str]) -> str:
    """``Upload-Metadata``: ``key base64(value)`` pairs separated by commas."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def checksum_header(chunk: bytes) -> str:
    """``Upload-Checksum`` of one chunk (sha256): the server drops a chunk that arrived damaged."""
    return "sha256 " + base64.b64encode(hashlib.sha256(chunk).digest()).decode()


@dataclass(frozen=True)
class Remote:
    """What ``HEAD`` says of a stored upload: its offset, and the job once it is finished."""

    offset: int
    job_id: str | None


def create(api: Api, length: int, metadata: Mapping[str, str]) -> str:
    """A new upload; its absolute URL."""
    headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": encode_metadata(metadata)}
    response = check(api.request("POST", "/uploads/", headers=headers), 201)
    return api.absolute(response.headers["Location"])


def probe(api: Api, url: str) -> Remote | None:
    """The state of a stored upload, or ``None`` if it is gone (expired, finished long ago)."""
    response = api.request("HEAD", url, headers=TUS)
    if response.status_code in (404, 410):
        return None
    check(response)
    return Remote(int(response.headers["Upload-Offset"]), response.headers.get("Upload-Job-Id"))


Progress = Callable[[int], None]


class TusUpload:
    """Send ``path`` to ``url`` from ``offset``; ``progress`` hears each adopted offset."""

    def __init__(self, api: Api, url: str, path: Path, chunk_size: int = DEFAULT_CHUNK) -> None:
        self.api, self.url, self.path, self.chunk_size = api, url, path, chunk_size
        self.sent = 0  # bytes this process sent (a resumed upload sends fewer)

    def run(self, offset: int, progress: Progress) -> str:
        """Every remaining chunk; the id of the job the last one submitted (``Upload-Job-Id`` of
        the final 204)."""
        with self.path.open("rb") as f:
            while True:
                response = self._patch(f, offset)
                offset = int(response.headers["Upload-Offset"])
                progress(offset)
                job_id: str | None = response.headers.get("Upload-Job-Id")
                if job_id:
                    return job_id

    def _patch(self, f: BinaryIO, offset: int) -> httpx.Response:
        f.seek(offset)
        chunk = f.read(self.chunk_size)
        headers = {
            **TUS,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(offset),
            "Upload-Checksum": checksum_header(chunk),
        }
        for _ in range(BUSY_RETRIES):  # another PATCH holds the upload, or too many run: wait
            response = self.api.request("PATCH", self.url, headers=headers, content=chunk)
            if response.status_code not in (423, 429):
                break
            time.sleep(float(response.headers.get("Retry-After", "1")))
        if response.status_code != 204:
            raise ClientError(server_message(response))
        self.sent += len(chunk)
        return response
