"""A verified token is reused until its exp; nothing unverified or expired is ever served."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from services.core.access.tokens import issue_access_token
from services.core.http.auth import VerifiedTokens, authenticate
from services.core.http.errors import ApiError

SECRET = "s" * 40


def request(token: str) -> Request:
    headers = [(b"authorization", f"Bearer {token}".encode())]
    return Request({"type": "http", "method": "GET", "headers": headers, "query_string": b""})


def test_a_verified_token_is_served_from_the_cache() -> None:
    cache = VerifiedTokens()
    token = issue_access_token(SECRET, "u1", "admin")
    first = authenticate(request(token), SECRET, verified=cache)
    assert cache.get(token) == first
    # served from the cache: even a verifier with the wrong secret accepts it now
    assert authenticate(request(token), "x" * 40, verified=cache) == first


def test_refused_tokens_are_never_cached() -> None:
    cache = VerifiedTokens()
    forged = issue_access_token("f" * 40, "u1", "user")
    for _ in range(2):
        with pytest.raises(ApiError) as refused:
            authenticate(request(forged), SECRET, verified=cache)
        assert refused.value.status == 401
    assert cache.get(forged) is None


def test_an_expired_entry_is_verified_again_and_refused() -> None:
    cache = VerifiedTokens()
    token = issue_access_token(SECRET, "u1", "user", ttl_s=-5)  # already expired
    principal = authenticate(request(issue_access_token(SECRET, "u1", "user")), SECRET)
    cache.put(token, principal)  # as if it had been verified just before expiring
    assert cache.get(token) is None
    with pytest.raises(ApiError):
        authenticate(request(token), SECRET, verified=cache)


def test_the_cache_is_bounded() -> None:
    cache = VerifiedTokens(size=2)
    tokens = [issue_access_token(SECRET, f"u{n}", "user") for n in range(3)]
    for token in tokens:
        authenticate(request(token), SECRET, verified=cache)
    assert cache.get(tokens[0]) is None and cache.get(tokens[2]) is not None
