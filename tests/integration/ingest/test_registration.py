"""Who may register (``REGISTRATION`` = open | invite | closed), how often one address may,
and a conflict that never says which of username and email exists."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.support.ingest import Api, admin_bearer, sql


def new_account(**extra: str) -> dict[str, str]:
    name = f"reg{uuid.uuid4().hex[:8]}"
    return {"username": name, "email": f"{name}@example.com", "password": "correct horse", **extra}


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_a_conflict_does_not_say_which_field_is_taken(api: Api) -> None:
    taken = await api.register()
    by_name = await api.client.post("/auth/register", json=new_account(username=taken["username"]))
    by_email = await api.client.post("/auth/register", json=new_account(email=taken["email"]))
    assert error(by_name) == error(by_email) == (409, "conflict")
    assert by_name.json() == by_email.json()
    message = by_name.json()["error"]["message"]
    assert "username or the email" in message


async def test_closed_registration_refuses_everyone(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api(REGISTRATION="closed")
    refused = await api.client.post("/auth/register", json=new_account())
    assert error(refused) == (403, "registration_closed")
    assert await sql(api, "SELECT 1 FROM users") == []


async def test_invite_registration_needs_a_single_use_code(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api(REGISTRATION="invite")
    [admin_id] = [
        r["id"]
        for r in await sql(
            api,
            "INSERT INTO users (username, email, password_hash, role) "
            "VALUES ('root', 'root@example.com', 'x', 'admin') RETURNING id",
        )
    ]
    admin = await admin_bearer(api, str(admin_id))
    without = await api.client.post("/auth/register", json=new_account())
    assert error(without) == (403, "invite_required")
    made = await api.client.post("/admin/invites", headers=admin, json={"expires_in": 3600})
    assert made.status_code == 201, made.text
    code = made.json()["code"]
    assert made.json()["expires_at"] and made.headers["Cache-Control"] == "no-store"
    wrong = await api.client.post("/auth/register", json=new_account(invite="not-a-code"))
    assert error(wrong) == (403, "invalid_invite")
    invited = new_account(invite=code)
    first = await api.client.post("/auth/register", json=invited)
    assert first.status_code == 201, first.text
    again = await api.client.post("/auth/register", json=new_account(invite=code))
    assert error(again) == (403, "invalid_invite")  # single use
    # an expired code is refused too
    other = (await api.client.post("/admin/invites", headers=admin, json={})).json()["code"]
    await sql(
        api, "UPDATE invites SET expires_at = now() - interval '1 second' WHERE used_at IS NULL"
    )
    expired = await api.client.post("/auth/register", json=new_account(invite=other))
    assert error(expired) == (403, "invalid_invite")
    token = (await api.login(invited["username"]))["access_token"]
    user = {"Authorization": f"Bearer {token}"}
    assert (await api.client.post("/admin/invites", headers=user, json={})).status_code == 403


async def test_open_registration_ignores_an_invite(api: Api) -> None:
    made = await api.client.post("/auth/register", json=new_account(invite="anything"))
    assert made.status_code == 201


async def test_one_address_may_register_only_so_many_accounts_per_hour(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api(REGISTRATION_PER_HOUR="3")
    statuses = [
        (await api.client.post("/auth/register", json=new_account())).status_code for _ in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    limited = await api.client.post("/auth/register", json=new_account())
    assert error(limited) == (429, "registration_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 1200  # a token every 20 minutes
    # another ingest process shares the count (PostgreSQL), as does a restart
    other: Api = await make_api(REGISTRATION_PER_HOUR="3")
    assert error(await other.client.post("/auth/register", json=new_account())) == (
        429,
        "registration_limited",
    )
