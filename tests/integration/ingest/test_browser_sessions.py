"""The browser's cookie session over real HTTP against real PostgreSQL: login, refresh with
the CSRF header, the rotation grace window, logout, ``/auth/me``."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.eventually import eventually
from tests.support.ingest import Api, admin_bearer, sql

CSRF = {"X-Requested-With": "vidpipe"}


def set_cookie(response: httpx.Response) -> dict[str, str]:
    """The attributes of the response's ``vidpipe_refresh`` cookie (names lower-cased)."""
    header = next(h for h in response.headers.get_list("set-cookie") if "vidpipe_refresh=" in h)
    first, *attributes = (part.strip() for part in header.split(";"))
    parsed = {"value": first.partition("=")[2]}
    for attribute in attributes:
        name, _, value = attribute.partition("=")
        parsed[name.lower()] = value
    return parsed


async def cookie_login(api: Api, name: str | None = None) -> tuple[str, httpx.Response]:
    name = name or f"web{uuid.uuid4().hex[:8]}"
    await api.register(name)
    response = await api.client.post(
        "/auth/login",
        json={"username": name, "password": "correct horse", "session": "cookie"},
        headers=CSRF,
    )
    assert response.status_code == 200, response.text
    return name, response


async def refresh_with(api: Api, token: str, headers: dict[str, str] = CSRF) -> httpx.Response:
    api.client.cookies.clear()  # the token under test only, not what the client kept
    return await api.client.post(
        "/auth/refresh", headers={**headers, "Cookie": f"vidpipe_refresh={token}"}
    )


async def test_a_cookie_login_keeps_the_refresh_token_out_of_the_json(api: Api) -> None:
    name, response = await cookie_login(api)
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "user"}
    assert body["user"]["username"] == name and body["user"]["disabled"] is False
    cookie = set_cookie(response)
    assert cookie["value"] and cookie["path"] == "/auth" and cookie["samesite"] == "strict"
    assert "httponly" in cookie and "secure" not in cookie  # plain http here
    assert response.headers["Cache-Control"] == "no-store"
    me = await api.client.get(
        "/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json() == {**body["user"], "role": "user", "disabled": False}
    assert set(me.json()) == {"id", "username", "email", "role", "disabled"}


async def test_a_cookie_registration_logs_in(api: Api) -> None:
    name = f"web{uuid.uuid4().hex[:8]}"
    response = await api.client.post(
        "/auth/register",
        json={
            "username": name,
            "email": f"{name}@example.com",
            "password": "correct horse",
            "session": "cookie",
        },
        headers=CSRF,
    )
    assert response.status_code == 201
    assert response.json()["user"]["username"] == name and "refresh_token" not in response.json()
    assert set_cookie(response)["value"]


async def test_the_json_flow_is_unchanged(api: Api) -> None:
    account = await api.register()
    tokens = await api.login(account["username"])
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert "set-cookie" not in {k.lower() for k in api.client.headers}
    rotated = await api.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )  # no CSRF header needed: nothing ambient is used
    assert rotated.status_code == 200 and rotated.json()["refresh_token"]


async def test_cookie_refresh_needs_the_csrf_header_and_rotates(api: Api) -> None:
    _, login = await cookie_login(api)
    token = set_cookie(login)["value"]
    refused = await refresh_with(api, token, headers={})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
    wrong = await refresh_with(api, token, headers={"X-Requested-With": "XMLHttpRequest"})
    assert wrong.status_code == 403
    response = await refresh_with(api, token)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"access_token", "token_type", "expires_in", "user"}
    rotated = set_cookie(response)["value"]
    assert rotated and rotated != token and set_cookie(response)["path"] == "/auth"
    api.client.cookies.clear()
    no_cookie = await api.client.post("/auth/refresh", headers=CSRF)
    assert no_cookie.status_code == 401


async def live_tokens(api: Api, username: str) -> list[str]:
    """The token hashes of the user's refresh tokens still live."""
    rows = await sql(
        api,
        "SELECT r.token_hash FROM refresh_tokens r JOIN users u ON u.id = r.user_id "
        "WHERE u.username = $1 AND r.revoked_at IS NULL",
        username,
    )
    return [row["token_hash"] for row in rows]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def test_two_tabs_refreshing_at_once_both_succeed_and_the_session_survives(
    api: Api,
) -> None:
    name, login = await cookie_login(api)
    token = set_cookie(login)["value"]
    headers = {**CSRF, "Cookie": f"vidpipe_refresh={token}"}
    api.client.cookies.clear()
    first, second = await asyncio.gather(
        api.client.post("/auth/refresh", headers=headers),
        api.client.post("/auth/refresh", headers=headers),
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    for response in (first, second):
        me = await api.client.get(
            "/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
        )
        assert me.status_code == 200
    # one live token per session: the cookie set last (the one the browser keeps) goes on
    [live] = await live_tokens(api, name)
    kept = next(
        set_cookie(r)["value"] for r in (first, second) if digest(set_cookie(r)["value"]) == live
    )
    again = await refresh_with(api, kept)
    assert again.status_code == 200, again.text


async def test_a_replay_within_the_grace_revokes_the_successor_and_the_collision_ends_the_session(
    api: Api,
) -> None:
    """A stolen token replayed inside the grace window does not fork the session: the re-issue
    revokes the owner's current token, and the next refresh of either holder is a reuse that
    revokes the whole family (the thief's token too)."""
    name, login = await cookie_login(api)
    stolen = set_cookie(login)["value"]
    owners = set_cookie(await refresh_with(api, stolen))["value"]  # the owner rotates
    thiefs = await refresh_with(api, stolen)  # the thief replays within the grace (10 s)
    assert thiefs.status_code == 200, thiefs.text
    thiefs_token = set_cookie(thiefs)["value"]
    assert await live_tokens(api, name) == [digest(thiefs_token)]  # the owner's was revoked
    owner_next = await refresh_with(api, owners)
    assert owner_next.status_code == 401
    assert await live_tokens(api, name) == []  # the collision revoked the whole family
    assert (await refresh_with(api, thiefs_token)).status_code == 401
    assert (await refresh_with(api, stolen)).status_code == 401


async def test_the_json_flow_collides_the_same_way(api: Api) -> None:
    account = await api.register()
    stolen = (await api.login(account["username"]))["refresh_token"]
    rotate = {"refresh_token": stolen}
    owners = (await api.client.post("/auth/refresh", json=rotate)).json()["refresh_token"]
    thiefs = (await api.client.post("/auth/refresh", json=rotate)).json()["refresh_token"]
    thief_next = await api.client.post("/auth/refresh", json={"refresh_token": thiefs})
    assert thief_next.status_code == 200  # the thief's token was the live one
    owner_next = await api.client.post("/auth/refresh", json={"refresh_token": owners})
    assert owner_next.status_code == 401  # the owner's, superseded: a reuse
    latest = thief_next.json()["refresh_token"]
    assert (await api.client.post("/auth/refresh", json={"refresh_token": latest})).status_code == (
        401
    )


async def test_reuse_after_the_grace_window_revokes_the_session(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api(REFRESH_REUSE_GRACE="1")
    _, login = await cookie_login(api)
    token = set_cookie(login)["value"]
    rotated_at = time.monotonic()
    current = set_cookie(await refresh_with(api, token))["value"]

    async def grace_over() -> bool:
        return time.monotonic() > rotated_at + 1.5

    await eventually(grace_over, timeout=5, message="the grace window passed")
    replayed = await refresh_with(api, token)
    assert replayed.status_code == 401 and replayed.json()["error"]["code"] == (
        "invalid_refresh_token"
    )
    assert (await refresh_with(api, current)).status_code == 401  # the whole session is gone


async def test_a_replay_of_a_token_of_a_logged_out_session_is_refused_at_once(api: Api) -> None:
    _, login = await cookie_login(api)
    token = set_cookie(login)["value"]
    current = set_cookie(await refresh_with(api, token))["value"]
    api.client.cookies.clear()
    out = await api.client.post(
        "/auth/logout", headers={**CSRF, "Cookie": f"vidpipe_refresh={current}"}
    )
    assert out.status_code == 204
    assert (await refresh_with(api, token)).status_code == 401  # in the window, but logged out


async def test_logout_needs_the_csrf_header_clears_the_cookie_and_ends_the_session(
    api: Api,
) -> None:
    _, login = await cookie_login(api)
    token = set_cookie(login)["value"]
    api.client.cookies.clear()
    cookie = {"Cookie": f"vidpipe_refresh={token}"}
    refused = await api.client.post("/auth/logout", headers=cookie)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
    assert (await refresh_with(api, token)).status_code == 200  # the refusal ended nothing
    _, login = await cookie_login(api)
    token = set_cookie(login)["value"]
    api.client.cookies.clear()
    out = await api.client.post(
        "/auth/logout", headers={**CSRF, "Cookie": f"vidpipe_refresh={token}"}
    )
    assert out.status_code == 204
    cleared = set_cookie(out)
    assert (
        cleared["max-age"] == "0" and cleared["path"] == "/auth" and not cleared["value"].strip('"')
    )
    assert (await refresh_with(api, token)).status_code == 401


async def test_the_notifier_refuses_a_disabled_users_token_too(public_origin: Api) -> None:
    """On the composed origin the notifier learns of the change from PostgreSQL (its poll)."""
    user = await public_origin.user()
    admin = await admin_bearer(public_origin, (await public_origin.register())["id"])
    changed = await public_origin.client.patch(
        f"/admin/users/{user['X-User-Id']}", headers=admin, json={"disabled": True}
    )
    assert changed.status_code == 200

    async def refused() -> bool:
        headers = {"Authorization": user["Authorization"]}
        async with public_origin.client.stream("GET", "/events", headers=headers) as response:
            if response.status_code != 401:
                return False  # the stream opened: the notifier has not polled yet
            await response.aread()
            return bool(response.json()["error"]["code"] == "account_disabled")

    await eventually(refused, timeout=10, message="the notifier refused the disabled user's token")


async def test_the_cookie_is_secure_over_https(api: Api) -> None:
    """Behind a TLS-terminating proxy (uvicorn trusts X-Forwarded-Proto from loopback)."""
    account = await api.register()
    response = await api.client.post(
        "/auth/login",
        json={"username": account["username"], "password": "correct horse", "session": "cookie"},
        headers={"X-Forwarded-Proto": "https", **CSRF},
    )
    assert response.status_code == 200
    assert "secure" in set_cookie(response)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
