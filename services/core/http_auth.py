"""Who is calling a public HTTP route: the one bearer-token check of ingest and the notifier."""

from __future__ import annotations

from collections.abc import Container, Sequence

from starlette.requests import Request

from services.core.http_errors import ApiError
from services.core.tokens import InvalidToken, Principal, bearer_token, verify_access_token

MISSING = "missing bearer token"
INVALID = "invalid or expired token"


def authenticate(
    request: Request,
    secret: str | Sequence[str],
    *,
    query_param: str | None = None,
    missing: str = MISSING,
    invalid: str = INVALID,
    disabled: Container[str] = (),
) -> Principal:
    """The caller, from ``Authorization: Bearer`` (or ``?{query_param}=`` when given: an
    EventSource sends no headers); else 401 with ``WWW-Authenticate`` as RFC 6750 asks.

    ``secret`` may list the current and the previous signing secrets (key rotation).
    ``missing`` and ``invalid`` are the error messages, so a service keeps the wording its
    clients already see. A user in ``disabled`` (services.core.disabled) gets 401
    ``account_disabled``: their tokens stop working although they have not expired.
    """
    token = bearer_token(request.headers.get("authorization"))
    if token is None and query_param is not None:
        token = request.query_params.get(query_param) or None
    if token is None:
        raise ApiError(401, "unauthorized", missing, {"WWW-Authenticate": "Bearer"})
    try:
        principal = verify_access_token(secret, token)
    except InvalidToken:
        raise ApiError(
            401, "unauthorized", invalid, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None
    if principal.user_id in disabled:
        raise ApiError(
            401,
            "account_disabled",
            "this account is disabled",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal
