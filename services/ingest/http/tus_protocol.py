"""The tus 1.0 wire format: parsing and formatting its headers, and the offset rules. Pure: no I/O.

https://tus.io/protocols/resumable-upload: core protocol plus the creation, creation-with-upload,
termination, expiration and checksum extensions. Every parser raises ``TusHeaderError`` (a
ValueError) with a sentence fit for the client; the HTTP layer maps errors to status codes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "termination", "expiration", "checksum")
CHECKSUM_ALGORITHMS = ("sha1", "sha256")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# what browsers may send and read across origins (CORS)
TUS_REQUEST_HEADERS = (
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Upload-Checksum",
    "Upload-Defer-Length",
)
TUS_RESPONSE_HEADERS = (
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Expires",
    "Upload-Job-Id",
    "Link",
)
METADATA_MAX_CHARS = 32 * 1024  # options are at most 16 KiB, base64 adds a third
_INTEGER = re.compile(r"^[0-9]{1,19}$")
_KEY = re.compile(r"^[\x21-\x2b\x2d-\x7e]+$")  # printable ASCII without space or comma
_MAX_INTEGER = 2**63 - 1


class TusHeaderError(ValueError):
    """A tus header is missing or malformed (400)."""


class UnsupportedChecksum(TusHeaderError):
    """``Upload-Checksum`` names an algorithm this server does not offer (400)."""


class OffsetMismatch(Exception):
    """The PATCH's ``Upload-Offset`` is not the stored offset (409)."""

    def __init__(self, stored: int, claimed: int) -> None:
        super().__init__(f"Upload-Offset is {claimed} but the upload is at {stored}")
        self.stored, self.claimed = stored, claimed


class BeyondLength(Exception):
    """The request would carry the upload past its ``Upload-Length`` (413)."""


def parse_integer(raw: str | None, name: str) -> int:
    """A non-negative decimal header value (``Upload-Offset``, ``Upload-Length``)."""
    if raw is None:
        raise TusHeaderError(f"{name} header is required")
    value = raw.strip()
    if not _INTEGER.match(value) or int(value) > _MAX_INTEGER:
        raise TusHeaderError(f"{name} must be a non-negative integer, got {raw[:40]!r}")
    return int(value)


def parse_metadata(raw: str | None) -> dict[str, bytes]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs; the value may be absent."""
    if raw is None or not raw.strip():
        return {}
    if len(raw) > METADATA_MAX_CHARS:
        raise TusHeaderError(f"Upload-Metadata is longer than {METADATA_MAX_CHARS} characters")
    pairs: dict[str, bytes] = {}
    for item in raw.split(","):
        key, _, encoded = item.strip().partition(" ")
        if not _KEY.match(key):
            raise TusHeaderError(f"Upload-Metadata: invalid key {key[:40]!r}")
        if key in pairs:
            raise TusHeaderError(f"Upload-Metadata: key {key!r} appears twice")
        pairs[key] = _base64(encoded.strip(), f"Upload-Metadata: value of {key!r}")
    return pairs


def format_metadata(pairs: dict[str, bytes]) -> str:
    """The ``Upload-Metadata`` header for ``pairs`` (the inverse of ``parse_metadata``)."""
    return ",".join(
        f"{key} {base64.b64encode(value).decode()}" if value else key
        for key, value in pairs.items()
    )


@dataclass(frozen=True, slots=True)
class Checksum:
    """An ``Upload-Checksum``: the algorithm and the digest the body must have."""

    algorithm: str
    digest: bytes

    def matches(self, hasher: hashlib._Hash) -> bool:
        return hasher.name == self.algorithm and hasher.digest() == self.digest


def parse_checksum(raw: str | None) -> Checksum | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``, or None when absent."""
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise UnsupportedChecksum(
            f"Upload-Checksum: {algorithm[:20]!r} is not one of {', '.join(CHECKSUM_ALGORITHMS)}"
        )
    digest = _base64(encoded.strip(), "Upload-Checksum")
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise TusHeaderError(f"Upload-Checksum: not a {algorithm} digest")
    return Checksum(algorithm, digest)


def patch_budget(*, stored: int, length: int, claimed: int, content_length: int | None) -> int:
    """How many bytes a PATCH at ``claimed`` may carry into an upload at ``stored`` of ``length``.

    Raises OffsetMismatch, or BeyondLength when a declared Content-Length already says too many.
    """
    if claimed != stored:
        raise OffsetMismatch(stored, claimed)
    remaining = length - stored
    if content_length is not None and content_length > remaining:
        raise BeyondLength(f"the body ({content_length} bytes) exceeds the {remaining} remaining")
    return remaining


@dataclass(frozen=True, slots=True)
class UploadFields:
    """What vidpipe reads from ``Upload-Metadata``; other keys are ignored (clients add their own,
    e.g. ``filetype``)."""

    filename: str | None
    options: bytes | None
    batch_id: str | None


def upload_fields(pairs: dict[str, bytes]) -> UploadFields:
    """``filename`` (or ``name``, as Uppy sends it), ``options`` (JSON), ``batch_id`` (UUID)."""
    raw_name = pairs.get("filename", pairs.get("name"))
    filename = _text(raw_name, "filename") if raw_name else None
    batch = pairs.get("batch_id")
    batch_id = None
    if batch:
        try:
            batch_id = str(uuid.UUID(_text(batch, "batch_id")))
        except ValueError:
            raise TusHeaderError("Upload-Metadata: batch_id must be a UUID") from None
    return UploadFields(filename, pairs.get("options") or None, batch_id)


def http_date(moment: datetime) -> str:
    """RFC 9110 date, as ``Upload-Expires`` wants it."""
    return format_datetime(moment, usegmt=True)


def _base64(encoded: str, what: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise TusHeaderError(f"{what} is not valid base64") from None


def _text(value: bytes, key: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise TusHeaderError(f"Upload-Metadata: {key} is not UTF-8") from None
