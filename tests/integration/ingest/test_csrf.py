"""Login and registration CSRF: a cross-site form can only post ``text/plain``, urlencoded or
multipart bodies without a CORS preflight, and cannot set ``X-Requested-With``. Every JSON route
answers 415 to a body not declared ``application/json``, and a cookie session (login, register,
refresh, logout) needs ``X-Requested-With: vidpipe``, ``Sec-Fetch-Site: same-origin`` or a
same-origin ``Origin``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.ingest import Api, admin_bearer

FORM = {
    "Content-Type": "text/plain",
    "Origin": "https://evil.example",
    "Sec-Fetch-Site": "cross-site",
}


def cookie_set(response: httpx.Response) -> bool:
    return any("vidpipe_refresh=" in h for h in response.headers.get_list("set-cookie"))


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert not cookie_set(response)


async def test_a_cross_site_text_plain_login_is_refused_with_415(api: Api) -> None:
    """The attack: a hidden form posting the attacker's credentials as a JSON-shaped
    ``text/plain`` body would log the victim's browser into the attacker's account."""
    attacker = await api.register()
    body = {"username": attacker["username"], "password": "correct horse", "session": "cookie"}
    login = await api.client.post("/auth/login", content=json.dumps(body), headers=FORM)
    refused(login, 415, "unsupported_media_type")
    name = f"csrf{uuid.uuid4().hex[:8]}"
    registration = {**body, "username": name, "email": f"{name}@example.com"}
    register = await api.client.post(
        "/auth/register", content=json.dumps(registration), headers=FORM
    )
    refused(register, 415, "unsupported_media_type")
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        other = await api.client.post(
            "/auth/login", content=json.dumps(body), headers={**FORM, "Content-Type": content_type}
        )
        refused(other, 415, "unsupported_media_type")
    undeclared = await api.client.post(
        "/auth/login", content=json.dumps(body), headers={"Content-Type": ""}
    )
    assert undeclared.status_code == 415


async def test_every_json_route_wants_application_json(api: Api) -> None:
    """(``read_body`` enforces it for every JSON body; ``/jobs/{id}/reprocess`` reads its body
    once it found the job, so an unknown job answers 404 first.)"""
    admin = await admin_bearer(api, (await api.register())["id"])
    user = await api.register()
    job = str(uuid.uuid4())
    for method, path, body in (
        ("POST", "/auth/refresh", {"refresh_token": "x"}),
        ("POST", "/auth/logout", {"refresh_token": "x"}),
        ("PATCH", f"/admin/users/{user['id']}", {"role": "admin"}),
        ("POST", "/admin/jobs/retry-failed", {}),
        ("POST", "/admin/invites", {}),
        ("POST", "/jobs/bulk", {"action": "retry", "job_ids": [job]}),
    ):
        response = await api.client.request(
            method, path, content=json.dumps(body), headers={**admin, "Content-Type": "text/plain"}
        )
        assert response.status_code == 415, (path, response.text)
        assert response.json()["error"]["code"] == "unsupported_media_type"
    changed = await api.client.patch(f"/admin/users/{user['id']}", headers=admin, json={})
    assert changed.status_code == 200  # application/json (and +json) still pass
    plus = await api.client.patch(
        f"/admin/users/{user['id']}",
        headers={**admin, "Content-Type": "application/merge-patch+json"},
        content=b"{}",
    )
    assert plus.status_code == 200


async def test_a_cookie_login_needs_a_same_origin_proof(api: Api) -> None:
    account = await api.register()
    body = {"username": account["username"], "password": "correct horse", "session": "cookie"}
    own = str(api.client.base_url).rstrip("/")
    for headers in ({}, {"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = await api.client.post("/auth/login", json=body, headers=headers)
        refused(response, 403, "csrf")
    for headers in (
        {"X-Requested-With": "vidpipe"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": own},
    ):
        api.client.cookies.clear()
        response = await api.client.post("/auth/login", json=body, headers=headers)
        assert response.status_code == 200 and cookie_set(response), (headers, response.text)
    # the JSON flow sets no cookie, so nothing ambient to forge: no proof needed
    assert (await api.login(account["username"]))["refresh_token"]


async def test_a_cookie_registration_needs_a_same_origin_proof(api: Api) -> None:
    def body() -> dict[str, str]:
        name = f"csrf{uuid.uuid4().hex[:8]}"
        return {
            "username": name,
            "email": f"{name}@example.com",
            "password": "correct horse",
            "session": "cookie",
        }

    forged = await api.client.post(
        "/auth/register", json=body(), headers={"Origin": "https://evil.example"}
    )
    refused(forged, 403, "csrf")
    made = await api.client.post(
        "/auth/register", json=body(), headers={"X-Requested-With": "vidpipe"}
    )
    assert made.status_code == 201 and cookie_set(made)


async def test_cookie_refresh_and_logout_accept_a_same_origin_request(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api(CORS_ORIGINS="https://app.example")
    account = await api.register()
    login = await api.client.post(
        "/auth/login",
        json={"username": account["username"], "password": "correct horse", "session": "cookie"},
        headers={"Origin": "https://app.example"},  # an origin CORS_ORIGINS trusts
    )
    assert login.status_code == 200
    forged = await api.client.post("/auth/refresh", headers={"Origin": "https://evil.example"})
    refused(forged, 403, "csrf")
    rotated = await api.client.post("/auth/refresh", headers={"Sec-Fetch-Site": "same-origin"})
    assert rotated.status_code == 200 and cookie_set(rotated)
    out = await api.client.post("/auth/logout", headers={"Origin": "https://evil.example"})
    refused(out, 403, "csrf")
    out = await api.client.post("/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
    assert out.status_code == 204
