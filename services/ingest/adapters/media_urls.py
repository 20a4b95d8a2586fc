"""Signed, expiring media URLs: what a player may fetch without a token. Pure: no I/O, no clock.

A URL grants one job attempt's whole output tree until it expires:
``/media/{job_id}/{attempt}/{expires}/{signature}/{path}``. The signature is HMAC-SHA256 over
job, attempt and expiry (not the path), so the relative URIs of an HLS master playlist
(``360p/index.m3u8``, ``init_0.mp4``, ``seg_00001.m4s``) resolve under the same grant; the path is
bound to the grant by being inside that attempt's prefix. The key is derived from ``JWT_SECRET``
with its own purpose label, so a media signature is never valid as anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from urllib.parse import quote

PREFIX = "/media"
PURPOSE = b"vidpipe media url v1"
DEFAULT_TTL_S = 3600
EXPIRY_STEP_S = 60
"""Expiries round up to a whole minute: URLs stay the same for a minute, so caches can hit."""

_ATTEMPT = re.compile(r"^[1-9][0-9]{0,8}$")
_EXPIRES = re.compile(r"^[1-9][0-9]{0,11}$")
_SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class MediaUrlRefused(Exception):
    """The URL's signature does not match, or it has expired."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def derive_key(secret: str) -> bytes:
    """The media signing key: ``secret`` (e.g. ``JWT_SECRET``) through HMAC with a purpose label."""
    return hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest()


def signature(key: bytes, job_id: str, attempt: str, expires: str) -> str:
    """The URL-safe base64 HMAC-SHA256 of a grant (43 characters, no padding)."""
    message = f"{job_id}\n{attempt}\n{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class Grant:
    """A verified URL: which attempt's tree it opens and until when (epoch seconds)."""

    job_id: str
    attempt: int
    expires: int


@dataclass(frozen=True)
class MediaUrls:
    """Builds and checks media URLs with one key and lifetime."""

    key: bytes
    ttl_s: int = DEFAULT_TTL_S

    def expiry(self, now: float) -> int:
        """When a URL made at ``now`` expires: at least ``ttl_s`` later, on a whole minute."""
        return math.ceil((now + self.ttl_s) / EXPIRY_STEP_S) * EXPIRY_STEP_S

    def tree(self, job_id: str, attempt: int, now: float) -> str:
        """The URL prefix (ending in ``/``) under which the attempt's outputs resolve."""
        expires = str(self.expiry(now))
        signed = signature(self.key, job_id, str(attempt), expires)
        return f"{PREFIX}/{job_id}/{attempt}/{expires}/{signed}/"

    def url(self, job_id: str, attempt: int, name: str, now: float) -> str:
        """The URL of the output ``name`` (a path under the attempt's prefix)."""
        return self.tree(job_id, attempt, now) + quote(name, safe="/")

    def verify(self, job_id: str, attempt: str, expires: str, signed: str, now: float) -> Grant:
        """The grant of a URL's fields as received; ``MediaUrlRefused`` if forged or expired.

        Fields are checked as the exact strings that were signed (``01`` is not ``1``), the
        signature is compared in constant time, and expiry only after the signature matched,
        so "expired" is only ever said of a URL this server made."""
        well_formed = bool(
            _ATTEMPT.match(attempt) and _EXPIRES.match(expires) and _SIGNATURE.match(signed)
        )
        # a malformed field is refused before comparing: compare_digest needs ASCII strings
        if not well_formed or not hmac.compare_digest(
            signature(self.key, job_id, attempt, expires), signed
        ):
            raise MediaUrlRefused("invalid_signature", "media URL signature is invalid")
        if int(expires) <= now:
            raise MediaUrlRefused("expired_signature", "media URL has expired")
        return Grant(job_id, int(attempt), int(expires))
