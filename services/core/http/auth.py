"""Who is calling a public HTTP route: the one bearer-token check of ingest and the notifier."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import jwt
from starlette.requests import Request

from services.core.access.tokens import InvalidToken, Principal, bearer_token, verify_access_token
from services.core.http.errors import ApiError

MISSING = "missing bearer token"
REFUSALS = {
    "account_disabled": "this account is disabled",
    "token_revoked": "the account's role changed since this token was issued: log in again",
}


class AccountStates(Protocol):
    """What the caller's account allows now (services.core.access.disabled.DisabledAccounts)."""

    def refusal(self, user_id: str, version: int) -> str | None: ...


INVALID = "invalid or expired token"


class VerifiedTokens:
    """Tokens whose signature was checked, each until its ``exp``: a client that reconnects
    (a reconnect storm: thousands at once) with the same token skips the HMAC and JSON work."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[1] <= time.time():  # expired since: verified again (and refused)
            del self._entries[token]
            return None
        return entry[0]

    def put(self, token: str, principal: Principal) -> None:
        claims = jwt.decode(token, options={"verify_signature": False})  # already verified
        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            return  # no expiry: not worth caching
        self._entries[token] = (principal, float(expires))
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


def authenticate(
    request: Request,
    secret: str | Sequence[str],
    *,
    query_param: str | None = None,
    missing: str = MISSING,
    invalid: str = INVALID,
    verified: VerifiedTokens | None = None,
    disabled: AccountStates | None = None,
) -> Principal:
    """The caller, from ``Authorization: Bearer`` (or ``?{query_param}=`` when given: an
    EventSource sends no headers); else 401 with ``WWW-Authenticate`` as RFC 6750 asks.

    ``secret`` may list the current and the previous signing secrets (key rotation).
    ``missing`` and ``invalid`` are the error messages, so a service keeps the wording its
    clients already see. ``verified``: a cache of tokens already checked. A user
    ``disabled`` (services.core.access.disabled) refuses gets 401 ``account_disabled`` (an admin
    disabled them) or ``token_revoked`` (their role changed after the token was issued): their
    tokens stop working although they have not expired (a cached token too).
    """
    token = bearer_token(request.headers.get("authorization"))
    if token is None and query_param is not None:
        token = request.query_params.get(query_param) or None
    if token is None:
        raise ApiError(401, "unauthorized", missing, {"WWW-Authenticate": "Bearer"})
    principal = verified.get(token) if verified is not None else None
    if principal is None:
        try:
            principal = verify_access_token(secret, token)
        except InvalidToken:
            raise ApiError(
                401, "unauthorized", invalid, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None
        if verified is not None:
            verified.put(token, principal)
    refusal = disabled.refusal(principal.user_id, principal.version) if disabled else None
    if refusal is not None:
        raise ApiError(
            401, refusal, REFUSALS[refusal], {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return principal
