"""``/auth/*``: register, login, refresh (rotating), logout."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.core.http_errors import ApiError, error_reply
from services.core.openapi import Reply, model_response, operation
from services.core.tokens import issue_access_token
from services.ingest import resources
from services.ingest.accounts import NameTaken, RefreshRefused, User
from services.ingest.bodies import BODY_ERRORS, Login, RefreshBody, Registration, read_body
from services.ingest.passwords import hash_password, password_problem, verify_password
from services.ingest.resources import Tokens
from services.ingest.runtime import RATE_LIMITED, Runtime, runtime


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limit_auth(request: Request) -> Runtime:
    rt = runtime(request)
    rt.limiter.check(f"auth:{client_address(request)}", rt.limiter.per_auth_address)
    return rt


async def _token_pair(rt: Runtime, user: User, refresh_token: str) -> JSONResponse:
    tokens = Tokens(
        access_token=issue_access_token(
            rt.secret,
            user.id,
            user.role,  # type: ignore[arg-type]
            rt.access_ttl_s,
        ),
        refresh_token=refresh_token,
        expires_in=rt.access_ttl_s,
    )
    return model_response(tokens, headers={"Cache-Control": "no-store"})


TOKENS = {200: Reply("an access and a refresh token", Tokens), **BODY_ERRORS, **RATE_LIMITED}


@operation(
    "Create an account",
    {
        201: Reply("created", resources.User),
        409: error_reply("username or email taken"),
        **BODY_ERRORS,
        422: error_reply("invalid body, or a password breaking a rule (length, not the name)"),
        **RATE_LIMITED,
    },
    body=Registration,
)
async def register(request: Request) -> Response:
    rt = _limit_auth(request)
    body = await read_body(request, Registration)
    problem = password_problem(
        body.password, body.username, body.email, rt.settings.password_min_length
    )
    if problem is not None:
        raise ApiError(422, "weak_password", problem)
    try:
        user = await rt.accounts.create_user(
            body.username, body.email, await hash_password(body.password), "user"
        )
    except NameTaken as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return model_response(resources.User.model_validate(user), status_code=201)


@operation(
    "Log in with username or email",
    {
        **TOKENS,
        401: error_reply("bad credentials"),
        429: error_reply("rate limited, or too many failed logins; see Retry-After"),
    },
    body=Login,
)
async def login(request: Request) -> Response:
    rt = _limit_auth(request)
    body = await read_body(request, Login)
    found = await rt.accounts.credentials(body.username)
    # unknown names are counted under what was typed: the same answers as for an account
    account = found[0].id if found else f"unknown:{body.username.casefold()}"
    address = client_address(request)
    rt.lockout.check(account, address)
    valid = await verify_password(found[1] if found else None, body.password)
    if found is None or not valid:
        rt.lockout.failed(account, address)
        raise ApiError(401, "invalid_credentials", "invalid username or password")
    rt.lockout.succeeded(account)
    return await _token_pair(rt, found[0], await rt.accounts.issue_refresh(found[0].id))


@operation(
    "Rotate a refresh token",
    {**TOKENS, 401: error_reply("unknown, expired, revoked or reused refresh token")},
    body=RefreshBody,
)
async def refresh(request: Request) -> Response:
    rt = _limit_auth(request)
    body = await read_body(request, RefreshBody)
    try:
        user, token = await rt.accounts.rotate_refresh(body.refresh_token)
    except RefreshRefused as exc:
        raise ApiError(401, "invalid_refresh_token", str(exc)) from None
    return await _token_pair(rt, user, token)


@operation(
    "Revoke a refresh token's session",
    {204: Reply("logged out (also for an unknown token)"), **BODY_ERRORS, **RATE_LIMITED},
    body=RefreshBody,
)
async def logout(request: Request) -> Response:
    rt = _limit_auth(request)
    body = await read_body(request, RefreshBody)
    await rt.accounts.revoke(body.refresh_token)  # unknown tokens: nothing to do, same answer
    return Response(status_code=204)


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
]
