"""The shared bearer-token check and error envelope, on plain ASGI requests."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request

from services.core.access.tokens import issue_access_token
from services.core.http.auth import authenticate
from services.core.http.errors import ApiError, error_response

SECRET = "s" * 40


def request(authorization: str | None = None, query: str = "") -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    return Request(scope | {"query_string": query.encode()})


def refusal(req: Request, **options: str) -> ApiError:
    with pytest.raises(ApiError) as info:
        authenticate(req, SECRET, **options)
    assert info.value.status == 401 and info.value.code == "unauthorized"
    return info.value


def test_a_valid_header_token_names_the_caller() -> None:
    token = issue_access_token(SECRET, "u1", "admin")
    principal = authenticate(request(f"Bearer {token}"), SECRET)
    assert principal.user_id == "u1" and principal.is_admin


def test_the_query_token_counts_only_where_the_route_allows_it() -> None:
    token = issue_access_token(SECRET, "u2", "user")
    assert refusal(request(query=f"access_token={token}")).message == "missing bearer token"
    allowed = authenticate(
        request(query=f"access_token={token}"), SECRET, query_param="access_token"
    )
    assert allowed.user_id == "u2"


def test_missing_and_invalid_tokens_say_so_as_rfc_6750_asks() -> None:
    missing = refusal(request("Basic abc"))
    assert missing.headers == {"WWW-Authenticate": "Bearer"}
    invalid = refusal(request("Bearer not-a-token"), invalid="bad token")
    assert invalid.message == "bad token"
    assert invalid.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    forged = issue_access_token("f" * 40, "u3", "user")
    assert refusal(request(f"Bearer {forged}")).message == "invalid or expired token"


def test_the_error_envelope() -> None:
    response = error_response(404, "not_found", "job not found", {"X-A": "b"})
    assert response.status_code == 404 and response.headers["X-A"] == "b"
    assert json.loads(response.body) == {"error": {"code": "not_found", "message": "job not found"}}
    assert response.body == b'{"error":{"code":"not_found","message":"job not found"}}'
