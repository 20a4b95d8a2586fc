"""What ingest's handlers share: the typed set of dependencies ``bootstrap`` makes once per
process, how a handler reaches it, and who the caller is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from services.core.access.disabled import DisabledAccounts
from services.core.access.tokens import Principal
from services.core.http.auth import authenticate as authenticate_bearer
from services.core.http.errors import error_reply
from services.core.http.openapi import Reply
from services.core.kafka.clients import EventPublisher
from services.core.runtime.clock import Clock, system_clock
from services.core.runtime.settings import Settings
from services.core.storage import ObjectStore
from services.ingest.adapters.accounts import Accounts
from services.ingest.adapters.applied import AppliedWaiter
from services.ingest.adapters.broker_offsets import BrokerOffsets
from services.ingest.adapters.lockout import LoginLockout
from services.ingest.adapters.media_urls import MediaUrls
from services.ingest.adapters.resumable import ResumableUploads
from services.ingest.http.ratelimit import RateLimiter

EVENT_SOURCE = "/vidpipe/ingest"
RATE_LIMITED: Mapping[int, Reply] = {429: error_reply("rate limited; see Retry-After")}
# what every route that calls ``authenticate`` may answer besides its own replies
AUTHENTICATED: Mapping[int, Reply] = {
    401: error_reply("missing, invalid or expired token"),
    **RATE_LIMITED,
}


@dataclass
class Dependencies:
    """The ingest process's clients and settings."""

    settings: Settings
    secret: str
    engine: AsyncEngine
    accounts: Accounts
    publisher: EventPublisher
    store: ObjectStore
    applied: AppliedWaiter
    limiter: RateLimiter
    access_ttl_s: int
    read_your_writes_s: float
    media: MediaUrls
    lockout: LoginLockout
    resumable: ResumableUploads
    broker_offsets: BrokerOffsets | None = None
    """The admin overview's reader of topic and group offsets (opened on first use)."""
    disabled: DisabledAccounts | None = None
    """The disabled accounts: their access tokens are refused."""
    clock: Clock = system_clock
    """What "now" is for the handlers (expiry of media URLs and uploads, ages, retry times)."""


def dependencies(request: Request) -> Dependencies:
    deps = request.app.state.dependencies
    assert isinstance(deps, Dependencies)
    return deps


def authenticate(request: Request) -> Principal:
    """The caller of a protected route, or 401 (and 429 when the user is over its limit)."""
    deps = dependencies(request)
    principal = authenticate_bearer(
        request, (deps.secret, *deps.settings.jwt_previous_secrets), disabled=deps.disabled or ()
    )
    deps.limiter.check(f"user:{principal.user_id}", deps.limiter.per_user)
    return principal
