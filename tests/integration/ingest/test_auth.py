"""Accounts and tokens over real HTTP against real PostgreSQL."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt

from services.core.access.tokens import AUDIENCE, ISSUER
from tests.support.ingest import Api


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


async def test_register_login_and_use_a_token(api: Api) -> None:
    account = await api.register("alice")
    assert account["username"] == "alice" and account["role"] == "user"
    assert "password" not in json.dumps(account)
    tokens = await api.login("alice")
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    by_email = await api.login("alice@example.com")
    assert by_email["access_token"]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert {"exp", "iat", "sub", "role", "iss", "aud"} <= set(claims)
    response = await api.client.get(
        "/jobs", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "items": [],
        "next_cursor": None,
        "usage": {
            "storage_bytes": 0,
            "reserved_bytes": 0,
            "storage_quota_bytes": 10_000_000_000,
            "jobs_in_flight": 0,
            "jobs_in_flight_quota": 50,
        },
    }


async def test_taken_names_and_invalid_input(api: Api) -> None:
    await api.register("bob")
    again = await api.client.post(
        "/auth/register", json={"username": "bob", "email": "x@y.io", "password": "longenough"}
    )
    assert again.status_code == 409 and error_code(again) == "conflict"
    email = await api.client.post(
        "/auth/register",
        json={"username": "bob2", "email": "BOB@example.com", "password": "longenough"},
    )
    assert email.status_code == 409
    for body in (
        {"username": "b", "email": "b@x.io", "password": "longenough"},
        {"username": "carol", "email": "not-an-email", "password": "longenough"},
        {"username": "carol", "email": "c@x.io", "password": "short"},
        {"username": "carol", "email": "c@x.io"},
        {"username": "car ol", "email": "c@x.io", "password": "longenough"},
    ):
        response = await api.client.post("/auth/register", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["message"]
    garbage = await api.client.post(
        "/auth/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 422 and error_code(garbage) == "invalid_json"


async def test_bad_credentials_do_not_say_which_part(api: Api) -> None:
    await api.register("dave")
    wrong_password = await api.client.post(
        "/auth/login", json={"username": "dave", "password": "nope-nope"}
    )
    no_user = await api.client.post(
        "/auth/login", json={"username": "nobody", "password": "nope-nope"}
    )
    assert wrong_password.status_code == no_user.status_code == 401
    assert wrong_password.json() == no_user.json()


async def test_refresh_rotates_and_reuse_revokes_the_family(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api(REFRESH_REUSE_GRACE="0")  # no grace: any reuse is one
    await api.register("erin")
    first = await api.login("erin")
    second = (
        await api.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    third = (
        await api.client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    ).json()
    reused = await api.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    # the whole family is revoked: the newest token of the chain no longer works either
    latest = await api.client.post("/auth/refresh", json={"refresh_token": third["refresh_token"]})
    assert latest.status_code == 401
    # a separate login (another family) is unaffected
    other = await api.login("erin")
    assert (
        await api.client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    ).status_code == 200


async def test_logout_stops_refresh(api: Api) -> None:
    await api.register("frank")
    tokens = await api.login("frank")
    out = await api.client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    again = await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401
    unknown = await api.client.post("/auth/logout", json={"refresh_token": "never-issued"})
    assert unknown.status_code == 204


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_bad_tokens_get_401(api: Api) -> None:
    account = await api.register()
    secret = api.settings.secret()
    now = int(time.time())
    base = {
        "sub": account["id"],
        "role": "admin",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 60,
    }
    tokens = {
        "expired": jwt.encode({**base, "exp": now - 60}, secret, algorithm="HS256"),
        "forged": jwt.encode(base, "x" * 64, algorithm="HS256"),
        "wrong-audience": jwt.encode({**base, "aud": "other"}, secret, algorithm="HS256"),
        "alg-none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(base)}.",
        "garbage": "abc.def.ghi",
    }
    for name, token in tokens.items():
        response = await api.client.get("/jobs", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert error_code(response) == "unauthorized"
    assert (await api.client.get("/jobs")).status_code == 401
    assert (await api.client.get("/jobs", headers={"Authorization": "Basic x"})).status_code == 401


async def test_rate_limits_answer_429_with_retry_after(make_api: Callable[..., Any]) -> None:
    api = await make_api(AUTH_RATE_LIMIT_PER_MINUTE="3", USER_RATE_LIMIT_PER_MINUTE="2")
    statuses = [
        (await api.client.post("/auth/login", json={"username": "x", "password": "y"})).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    limited = await api.client.post("/auth/login", json={"username": "x", "password": "y"})
    assert int(limited.headers["Retry-After"]) >= 1 and error_code(limited) == "rate_limited"


async def test_user_create_admin_from_the_cli(api: Api, ingest_env: dict[str, str]) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, **ingest_env}
    command = [
        sys.executable,
        "-m",
        "services.cli",
        "user",
        "create",
        "root",
        "--email",
        "root@example.com",
        "--admin",
        "--password-stdin",
    ]
    made = subprocess.run(
        command,
        input="admin password\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert "created admin root" in made.stdout
    tokens = await api.login("root", "admin password")
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["role"] == "admin"
    again = subprocess.run(
        command,
        input="admin password\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 1 and "taken" in again.stderr
    short = subprocess.run(
        [*command[:5], "other", "--email", "o@example.com", "--password-stdin"],
        input="short\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert short.returncode == 2 and "password" in short.stderr


async def test_password_rules_name_the_rule(api: Api) -> None:
    for body, rule in (
        ({"username": "gwen", "email": "g@x.io", "password": "ninechars"}, "at least 10"),
        ({"username": "gwendolyn01", "email": "g@x.io", "password": "GwenDolyn01"}, "username"),
        ({"username": "gwen", "email": "gwen-long@x.io", "password": "gwen-long@x.io"}, "email"),
    ):
        response = await api.client.post("/auth/register", json=body)
        assert response.status_code == 422 and error_code(response) == "weak_password", body
        assert rule in response.json()["error"]["message"]


async def test_failed_logins_lock_the_account_not_revealing_it_exists(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api(LOGIN_MAX_FAILURES="3", LOGIN_LOCKOUT_SECONDS="60")
    await api.register("erin")
    answers = {}
    for name in ("erin", "nobody-at-all"):
        wrong = {"username": name, "password": "wrong-wrong"}
        statuses = [(await api.client.post("/auth/login", json=wrong)).status_code for _ in "abc"]
        assert statuses == [401, 401, 401], name
        # locked: even the right password waits, and an unknown name answers the same
        locked = await api.client.post(
            "/auth/login", json={"username": name, "password": "correct horse"}
        )
        assert locked.status_code == 429 and error_code(locked) == "login_locked", name
        assert 1 <= int(locked.headers["Retry-After"]) <= 60
        answers[name] = (locked.status_code, error_code(locked), locked.headers["Retry-After"])
    assert answers["erin"] == answers["nobody-at-all"]
    await api.register("frank")  # another account from the same address is not locked
    assert (await api.login("frank"))["access_token"]


async def test_failed_logins_lock_the_address_across_names(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api(LOGIN_MAX_FAILURES="2", LOGIN_LOCKOUT_SECONDS="60")
    await api.register("gina")
    statuses = [
        (
            await api.client.post(
                "/auth/login", json={"username": f"guess{n}", "password": "wrong-wrong"}
            )
        ).status_code
        for n in range(9)  # one failure each: no account is locked, the address is after 8
    ]
    assert statuses == [401] * 8 + [429]
    refused = await api.client.post(
        "/auth/login", json={"username": "gina", "password": "correct horse"}
    )
    assert refused.status_code == 429 and error_code(refused) == "login_locked"
