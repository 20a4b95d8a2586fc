"""What ingest's handlers share: the typed set of dependencies ``bootstrap`` makes once per
process, how a handler receives the ones it uses (``endpoint``), and who the caller is."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from services.core.access.disabled import DisabledAccounts
from services.core.access.tokens import InvalidToken, Principal, bearer_token, verify_access_token
from services.core.http.auth import VerifiedTokens
from services.core.http.auth import authenticate as authenticate_bearer
from services.core.http.errors import error_reply
from services.core.http.openapi import Reply
from services.core.runtime.clock import Clock, system_clock
from services.core.runtime.settings import Settings
from services.core.storage import ObjectStore
from services.ingest.adapters.accounts import Accounts
from services.ingest.adapters.broker_offsets import BrokerOffsets
from services.ingest.adapters.job_log import JobLog
from services.ingest.adapters.lockout import LoginLockout
from services.ingest.adapters.media_urls import MediaUrls
from services.ingest.adapters.probe_pool import ProbePool
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
    job_log: JobLog
    store: ObjectStore
    limiter: RateLimiter
    access_ttl_s: int
    media: MediaUrls
    lockout: LoginLockout
    resumable: ResumableUploads
    prober: ProbePool
    """Probes uploads in child processes (``PROBE_*``)."""
    broker_offsets: BrokerOffsets | None = None
    """The admin overview's reader of topic and group offsets (opened on first use)."""
    disabled: DisabledAccounts | None = None
    """The disabled accounts: their access tokens are refused."""
    clock: Clock = system_clock
    """What "now" is for the handlers (expiry of media URLs and uploads, ages, retry times)."""
    verified: VerifiedTokens = dataclasses.field(default_factory=VerifiedTokens)
    """Access tokens whose signature was checked (the per-user limit and ``authenticate``)."""


Endpoint = Callable[[Request], Awaitable[Response]]
Provide = Callable[[Dependencies], object]
FIELDS: Mapping[str, object] = typing.get_type_hints(Dependencies)


def dependencies(request: Request) -> Dependencies:
    deps = request.app.state.dependencies
    assert isinstance(deps, Dependencies)
    return deps


def endpoint(handler: Callable[..., Awaitable[Response]]) -> Endpoint:
    """The route endpoint of ``handler(request, **used)``: each parameter after the request
    names a ``Dependencies`` field and has its type, or is a dataclass whose fields do (made per
    request from them, e.g. ``Submission``). Checked here, at import: a typo or a wrong type
    fails before any request. Name, module and ``@operation`` carry over (the OpenAPI document
    and its tags read them)."""
    hints = typing.get_type_hints(handler)
    first, *wanted = inspect.signature(handler).parameters
    if hints.get(first) is not Request:
        raise TypeError(f"{handler.__qualname__}: the first parameter must be the Request")
    provide = {name: _provider(handler, name, hints.get(name)) for name in wanted}

    @functools.wraps(handler)
    async def injected(request: Request) -> Response:
        deps = dependencies(request)
        await limit_user(request, deps)
        return await handler(request, **{name: get(deps) for name, get in provide.items()})

    return injected


def _provider(handler: Callable[..., object], name: str, hint: object) -> Provide:
    where = f"{handler.__qualname__}({name}: {hint})"
    if name in FIELDS:
        if hint != FIELDS[name]:
            raise TypeError(f"{where}: the dependency is a {FIELDS[name]}")
        return operator.attrgetter(name)
    if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
        raise TypeError(f"{where}: not a dependency (one of {', '.join(FIELDS)}) nor made of them")
    parts = typing.get_type_hints(hint)
    names = [f.name for f in dataclasses.fields(hint)]
    wrong = [n for n in names if n not in FIELDS or FIELDS[n] != parts[n]]
    if wrong:
        raise TypeError(f"{where}: {', '.join(wrong)} not dependencies of those names and types")
    made = hint
    return lambda deps: made(**{n: getattr(deps, n) for n in names})


async def limit_user(request: Request, deps: Dependencies) -> None:
    """429 when the bearer of a valid access token is over the per-user limit (checked before
    any handler runs: ``authenticate`` then finds the token verified already)."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        return
    principal = deps.verified.get(token)
    if principal is None:
        try:
            principal = verify_access_token(_secrets(deps), token)
        except InvalidToken:
            return  # the handler answers 401 if it needs a caller
        deps.verified.put(token, principal)
    await deps.limiter.check(f"user:{principal.user_id}", deps.limiter.per_user)


def _secrets(deps: Dependencies) -> tuple[str, ...]:
    return (deps.secret, *deps.settings.jwt_previous_secrets)


def authenticate(request: Request) -> Principal:
    """The caller of a protected route, or 401 (the per-user limit ran before: ``endpoint``)."""
    deps = dependencies(request)
    return authenticate_bearer(
        request, _secrets(deps), verified=deps.verified, disabled=deps.disabled
    )
