"""What the ingest handlers share: clients created once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from services.core.config import Settings
from services.core.kafka import KafkaEventPublisher
from services.core.storage import ObjectStore
from services.core.tokens import InvalidToken, Principal, bearer_token, verify_access_token
from services.ingest.accounts import Accounts
from services.ingest.applied import AppliedWaiter
from services.ingest.errors import ApiError
from services.ingest.ratelimit import RateLimiter

EVENT_SOURCE = "/vidpipe/ingest"


@dataclass
class Runtime:
    """The ingest process's clients and settings."""

    settings: Settings
    secret: str
    engine: AsyncEngine
    accounts: Accounts
    publisher: KafkaEventPublisher
    store: ObjectStore
    applied: AppliedWaiter
    limiter: RateLimiter
    access_ttl_s: int
    read_your_writes_s: float


def runtime(request: Request) -> Runtime:
    rt = request.app.state.runtime
    assert isinstance(rt, Runtime)
    return rt


def authenticate(request: Request) -> Principal:
    """The caller of a protected route, or 401 (and 429 when the user is over its limit)."""
    rt = runtime(request)
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise ApiError(401, "unauthorized", "missing bearer token", {"WWW-Authenticate": "Bearer"})
    try:
        principal = verify_access_token(rt.secret, token)
    except InvalidToken:
        raise ApiError(
            401,
            "unauthorized",
            "invalid or expired token",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    rt.limiter.check(f"user:{principal.user_id}", rt.limiter.per_user)
    return principal
