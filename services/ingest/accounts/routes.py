"""``/auth/*``: register, login, refresh (rotating), logout, who am I.

Two flows: the JSON flow (the CLI keeps the refresh token) and the browser's cookie session
(``"session": "cookie"``): the refresh token is an HttpOnly, SameSite=Strict cookie limited to
``/auth``. Every request of a cookie session (login, register, refresh, logout) must show it
comes from the app's own pages: ``X-Requested-With: vidpipe`` (a header a cross-site form
cannot send), ``Sec-Fetch-Site: same-origin`` or a same-origin (or ``CORS_ORIGINS``)
``Origin``; and JSON bodies must be ``application/json`` (``read_body``), so a cross-site
``text/plain`` form cannot log a browser into someone else's account.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.core.access.tokens import issue_access_token
from services.core.http.errors import ApiError, error_reply
from services.core.http.openapi import Reply, model_response, operation
from services.core.runtime.settings import Settings
from services.ingest.accounts.passwords import hash_password, password_problem, verify_password
from services.ingest.adapters.accounts import (
    REFRESH_TTL,
    AccountDisabled,
    Accounts,
    InviteRefused,
    NameTaken,
    RefreshRefused,
    User,
)
from services.ingest.adapters.lockout import LoginLockout
from services.ingest.dependencies import AUTHENTICATED, RATE_LIMITED, authenticate, endpoint
from services.ingest.http import resources
from services.ingest.http.bodies import BODY_ERRORS, Login, RefreshBody, Registration, read_body
from services.ingest.http.ratelimit import RateLimiter
from services.ingest.http.resources import BrowserSession, Tokens

COOKIE = "vidpipe_refresh"
COOKIE_PATH = "/auth"
CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "vidpipe"
NO_STORE = {"Cache-Control": "no-store"}
DISABLED = error_reply("the account is disabled (`account_disabled`)")
TAKEN = "the username or the email is already taken"  # never which: no account enumeration
CSRF_REFUSED = error_reply(
    "a cookie session without X-Requested-With: vidpipe, a same-origin Origin or "
    "Sec-Fetch-Site (`csrf`)"
)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _limit_auth(request: Request, limiter: RateLimiter) -> None:
    await limiter.check(f"auth:{client_address(request)}", limiter.per_auth_address)


@dataclass(frozen=True)
class AccessTokens:
    """What issuing an access token uses; a handler that names one gets it made from the
    dependencies of the same names (``services.ingest.dependencies.endpoint``)."""

    secret: str
    access_ttl_s: int

    def issue(self, user: User) -> str:
        return issue_access_token(
            self.secret,
            user.id,
            user.role,  # type: ignore[arg-type]
            self.access_ttl_s,
            version=user.token_version,
        )


def _token_pair(tokens: AccessTokens, user: User, refresh_token: str) -> JSONResponse:
    pair = Tokens(
        access_token=tokens.issue(user),
        refresh_token=refresh_token,
        expires_in=tokens.access_ttl_s,
    )
    return model_response(pair, headers=NO_STORE)


def _cookie_session(
    request: Request, tokens: AccessTokens, user: User, refresh_token: str, status_code: int = 200
) -> JSONResponse:
    session = BrowserSession(
        access_token=tokens.issue(user),
        expires_in=tokens.access_ttl_s,
        user=resources.User.model_validate(user),
    )
    response = model_response(session, status_code=status_code, headers=NO_STORE)
    response.set_cookie(
        COOKIE,
        refresh_token,
        max_age=int(REFRESH_TTL.total_seconds()),
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def same_site(request: Request, settings: Settings) -> bool:
    """The request comes from the app's own pages (or an origin ``CORS_ORIGINS`` trusts)."""
    if request.headers.get(CSRF_HEADER) == CSRF_VALUE:
        return True  # a custom header: cross-site it needs a CORS preflight we would refuse
    if request.headers.get("sec-fetch-site") == "same-origin":
        return True
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin is not None and (origin == own or origin in settings.cors_origins)


def _require_same_site(request: Request, settings: Settings) -> None:
    if not same_site(request, settings):
        raise ApiError(
            403,
            "csrf",
            f"cookie sessions need the header {CSRF_HEADER}: {CSRF_VALUE} "
            "(or a same-origin request)",
        )


def _cookie_token(request: Request, settings: Settings) -> str | None:
    _require_same_site(request, settings)
    return request.cookies.get(COOKIE) or None


def _disabled() -> ApiError:
    return ApiError(403, "account_disabled", "this account is disabled")


TOKENS = {
    200: Reply(
        "an access and a refresh token; with the cookie session: the access token and the "
        "user, the refresh token set as the vidpipe_refresh cookie",
        (Tokens, BrowserSession),
        headers={"Set-Cookie": "vidpipe_refresh (cookie session only)"},
    ),
    **BODY_ERRORS,
    **RATE_LIMITED,
}


@operation(
    "Create an account (with the cookie session: and log in)",
    {
        201: Reply(
            "created: the account; with the cookie session, a session as from login",
            (resources.User, BrowserSession),
            headers={"Set-Cookie": "vidpipe_refresh (cookie session only)"},
        ),
        403: error_reply(
            "registration closed (`registration_closed`), an invitation code needed "
            "(`invite_required`) or not valid (`invalid_invite`), or a cookie session "
            "without the same-origin proof (`csrf`)"
        ),
        409: error_reply("the username or the email is taken (never said which)"),
        **BODY_ERRORS,
        422: error_reply("invalid body, or a password breaking a rule (length, not the name)"),
        429: error_reply(
            "rate limited, or too many registrations from this address "
            "(`registration_limited`); see Retry-After"
        ),
    },
    body=Registration,
)
@endpoint
async def register(
    request: Request,
    limiter: RateLimiter,
    settings: Settings,
    accounts: Accounts,
    tokens: AccessTokens,
) -> Response:
    await _limit_auth(request, limiter)
    if settings.registration == "CLOSED":
        raise ApiError(403, "registration_closed", "registration is closed: ask an admin")
    body = await read_body(request, Registration)
    if body.session == "cookie":
        _require_same_site(request, settings)
    invite = body.invite if settings.registration == "INVITE" else None
    if settings.registration == "INVITE" and not invite:
        raise ApiError(403, "invite_required", "registration needs an invitation code (invite)")
    problem = password_problem(
        body.password, body.username, body.email, settings.password_min_length
    )
    if problem is not None:
        raise ApiError(422, "weak_password", problem)
    await limiter.check(
        f"register:{client_address(request)}",
        settings.registration_per_hour,
        3600.0,
        code="registration_limited",
        what="registrations from this address",
    )
    try:
        user = await accounts.create_user(
            body.username, body.email, await hash_password(body.password), "user", invite=invite
        )
    except NameTaken:
        raise ApiError(409, "conflict", TAKEN) from None
    except InviteRefused as exc:
        raise ApiError(403, "invalid_invite", str(exc)) from None
    if body.session == "cookie":
        refresh_token = await accounts.issue_refresh(user.id)
        return _cookie_session(request, tokens, user, refresh_token, status_code=201)
    return model_response(resources.User.model_validate(user), status_code=201)


@operation(
    "Log in with username or email",
    {
        **TOKENS,
        401: error_reply("bad credentials"),
        403: error_reply(
            "the account is disabled (`account_disabled`), or a cookie session without the "
            "same-origin proof (`csrf`)"
        ),
        429: error_reply("rate limited, or too many failed logins; see Retry-After"),
    },
    body=Login,
)
@endpoint
async def login(
    request: Request,
    limiter: RateLimiter,
    settings: Settings,
    accounts: Accounts,
    lockout: LoginLockout,
    tokens: AccessTokens,
) -> Response:
    await _limit_auth(request, limiter)
    body = await read_body(request, Login)
    if body.session == "cookie":
        _require_same_site(request, settings)
    found = await accounts.credentials(body.username)
    # unknown names are counted under what was typed: the same answers as for an account
    account = found[0].id if found else f"unknown:{body.username.casefold()}"
    address = client_address(request)
    await lockout.check(account, address)
    valid = await verify_password(found[1] if found else None, body.password)
    if found is None or not valid:
        await lockout.failed(account, address)
        raise ApiError(401, "invalid_credentials", "invalid username or password")
    await lockout.succeeded(account, address)
    user = found[0]
    if user.disabled:  # said only to whoever knows the password
        raise _disabled()
    refresh_token = await accounts.issue_refresh(user.id)
    if body.session == "cookie":
        return _cookie_session(request, tokens, user, refresh_token)
    return _token_pair(tokens, user, refresh_token)


@operation(
    "Rotate a refresh token (JSON, or the vidpipe_refresh cookie with X-Requested-With)",
    {
        **TOKENS,
        401: error_reply("unknown, expired, revoked or reused refresh token (or no cookie)"),
        403: error_reply(
            "a cookie without the same-origin proof (`csrf`), or the account is disabled"
        ),
    },
    body=RefreshBody,
    body_required=False,
)
@endpoint
async def refresh(
    request: Request,
    limiter: RateLimiter,
    settings: Settings,
    accounts: Accounts,
    tokens: AccessTokens,
) -> Response:
    await _limit_auth(request, limiter)
    body = await read_body(request, RefreshBody)
    token = body.refresh_token or _cookie_token(request, settings)
    if token is None:
        raise ApiError(401, "invalid_refresh_token", f"no refresh token (cookie {COOKIE})")
    try:
        user, rotated = await accounts.rotate_refresh(token, settings.refresh_reuse_grace_s)
    except RefreshRefused as exc:
        raise ApiError(401, "invalid_refresh_token", str(exc)) from None
    except AccountDisabled:
        raise _disabled() from None
    if body.refresh_token is None:
        return _cookie_session(request, tokens, user, rotated)
    return _token_pair(tokens, user, rotated)


@operation(
    "End the session of a refresh token (JSON, or the cookie with X-Requested-With)",
    {
        204: Reply(
            "logged out (also for an unknown token); the cookie is cleared",
            headers={"Set-Cookie": "vidpipe_refresh, expired"},
        ),
        403: CSRF_REFUSED,
        **BODY_ERRORS,
        **RATE_LIMITED,
    },
    body=RefreshBody,
    body_required=False,
)
@endpoint
async def logout(
    request: Request, limiter: RateLimiter, settings: Settings, accounts: Accounts
) -> Response:
    await _limit_auth(request, limiter)
    body = await read_body(request, RefreshBody)
    token = body.refresh_token or _cookie_token(request, settings)
    if token is not None:
        await accounts.revoke(token)  # unknown tokens: nothing to do, same answer
    response = Response(status_code=204)
    if body.refresh_token is None:
        response.delete_cookie(
            COOKIE,
            path=COOKIE_PATH,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
    return response


@operation(
    "Who the access token belongs to",
    {200: Reply("the account", resources.User), **AUTHENTICATED},
    security=("bearer",),
)
@endpoint
async def me(request: Request, accounts: Accounts) -> Response:
    principal = authenticate(request)
    user = await accounts.user(principal.user_id)
    if user is None:  # a valid token of an account since removed
        raise ApiError(401, "unauthorized", "the account no longer exists")
    return model_response(resources.User.model_validate(user), headers=NO_STORE)


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/me", me, methods=["GET"]),
]
