from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from services.core.access.tokens import (
    AUDIENCE,
    ISSUER,
    InvalidToken,
    bearer_token,
    issue_access_token,
    verify_access_token,
)

SECRET = "s" * 64


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "u1",
        "role": "user",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 60,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_round_trip() -> None:
    principal = verify_access_token(SECRET, issue_access_token(SECRET, "u1", "admin"))
    assert principal.user_id == "u1" and principal.is_admin


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(claims(exp=int(time.time()) - 60), SECRET, algorithm="HS256"),
        jwt.encode(claims(), "o" * 64, algorithm="HS256"),
        jwt.encode(claims(aud="someone-else"), SECRET, algorithm="HS256"),
        jwt.encode(claims(iss="evil"), SECRET, algorithm="HS256"),
        jwt.encode(claims(role=None), SECRET, algorithm="HS256"),
        jwt.encode(claims(role="root"), SECRET, algorithm="HS256"),
        jwt.encode(claims(iat=None), SECRET, algorithm="HS256"),
        jwt.encode(claims(sub=None), SECRET, algorithm="HS256"),
        jwt.encode(claims(), SECRET, algorithm="HS512"),
        "not-a-token",
        "",
    ],
    ids=[
        "expired",
        "forged",
        "audience",
        "issuer",
        "no-role",
        "bad-role",
        "no-iat",
        "no-sub",
        "other-alg",
        "garbage",
        "empty",
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify_access_token(SECRET, token)


def test_alg_none_is_refused() -> None:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(role='admin'))}."
    with pytest.raises(InvalidToken):
        verify_access_token(SECRET, unsigned)


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


def test_rotation_keeps_tokens_of_previous_secrets() -> None:
    old, new, stranger = "o" * 40, "n" * 40, "x" * 40
    before = issue_access_token(old, "u1", "user")
    assert jwt.get_unverified_header(before)["kid"] not in (old, new)
    assert verify_access_token((new, old), before).user_id == "u1"
    assert verify_access_token((new, old), issue_access_token(new, "u2", "user")).user_id == "u2"
    with pytest.raises(InvalidToken):
        verify_access_token((new,), before)  # the old secret retired: its tokens end
    with pytest.raises(InvalidToken):
        verify_access_token((new, old), issue_access_token(stranger, "u3", "admin"))
    # no kid (issued before rotation): tried against each secret
    legacy = jwt.encode(claims(), old, algorithm="HS256")
    assert verify_access_token((new, old), legacy).user_id == "u1"
    forged_kid = jwt.encode(claims(), stranger, algorithm="HS256", headers={"kid": "feed"})
    with pytest.raises(InvalidToken):
        verify_access_token((new, old), forged_kid)
