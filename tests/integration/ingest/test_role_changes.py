"""A change of role takes effect at once: the admin routes read the role from PostgreSQL, and
the change revokes the account's sessions and the access tokens issued before it, in this
process at once, in the others (ingest, the notifier) within their poll."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt

from tests.support.eventually import eventually
from tests.support.ingest import Api, admin_bearer, sql


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def promoted(api: Api) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    """An admin's headers, and a second account an admin promoted, logged in as admin: its
    registration and its token pair."""
    admin = await admin_bearer(api, (await api.register())["id"])
    account = await api.register()
    made = await api.client.patch(
        f"/admin/users/{account['id']}", headers=admin, json={"role": "admin"}
    )
    assert made.status_code == 200, made.text
    tokens = await api.login(account["username"])
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["role"] == "admin"
    assert (
        await api.client.get("/admin/users", headers=auth(tokens["access_token"]))
    ).status_code == 200
    return admin, account, tokens


async def test_a_demoted_admin_is_refused_at_once_and_cannot_promote_itself_again(
    api: Api,
) -> None:
    admin, account, tokens = await promoted(api)
    old = auth(tokens["access_token"])
    demoted = await api.client.patch(
        f"/admin/users/{account['id']}", headers=admin, json={"role": "user"}
    )
    assert demoted.status_code == 200 and demoted.json()["role"] == "user"
    for method, path, body in (
        ("GET", "/admin/users", None),
        ("PATCH", f"/admin/users/{account['id']}", {"role": "admin"}),  # no self re-promotion
        ("POST", "/admin/invites", {}),
    ):
        refused = await api.client.request(method, path, headers=old, json=body)
        assert refused.status_code == 401, (path, refused.text)
        assert refused.json()["error"]["code"] == "token_revoked"
    assert (await api.client.get("/jobs", headers=old)).status_code == 401  # any route
    [row] = await sql(api, "SELECT role FROM users WHERE id = $1", account["id"])
    assert row["role"] == "user"
    # the sessions are over: the refresh token from before the change is refused
    refresh = await api.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401
    # a fresh login carries the new role, and works
    fresh = auth((await api.login(account["username"]))["access_token"])
    assert (await api.client.get("/jobs", headers=fresh)).status_code == 200
    assert (await api.client.get("/admin/users", headers=fresh)).status_code == 403


async def test_another_process_refuses_the_demoted_admin_on_admin_routes_at_once(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api()
    other: Api = await make_api()  # a second ingest on the same database
    admin, account, tokens = await promoted(api)
    old = auth(tokens["access_token"])
    assert (await other.client.get("/admin/users", headers=old)).status_code == 200
    await api.client.patch(f"/admin/users/{account['id']}", headers=admin, json={"role": "user"})
    # no waiting for its poll: the admin routes read the role in the database
    refused = await other.client.get("/admin/users", headers=old)
    assert refused.status_code in (401, 403), refused.text
    patched = await other.client.patch(
        f"/admin/users/{account['id']}", headers=old, json={"role": "admin"}
    )
    assert patched.status_code in (401, 403)

    async def every_route_refuses() -> bool:  # the other routes: within its poll
        return (await other.client.get("/jobs", headers=old)).status_code == 401

    await eventually(every_route_refuses, timeout=10, message="the old token refused on /jobs")


async def test_the_notifier_refuses_a_demoted_admins_old_token(public_origin: Api) -> None:
    admin, account, tokens = await promoted(public_origin)
    old = auth(tokens["access_token"])
    user = await public_origin.register()
    everyone = f"/events?user_id={user['id']}"  # admins only
    await public_origin.client.patch(
        f"/admin/users/{account['id']}", headers=admin, json={"role": "user"}
    )

    async def refused() -> bool:
        async with public_origin.client.stream("GET", everyone, headers=old) as response:
            return response.status_code == 401

    await eventually(refused, timeout=10, message="the notifier refused the old admin token")
