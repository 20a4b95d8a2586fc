"""Login lockout and rate limits are shared by every ingest process through PostgreSQL (two
``create_app`` on one database, a restart), and a lockout is per (account, address): an
attacker's address locking an account does not lock its owner out from another address."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.support.ingest import Api, sql, start_api


def wrong(name: str) -> dict[str, str]:
    return {"username": name, "password": "wrong-wrong"}


def right(name: str) -> dict[str, str]:
    return {"username": name, "password": "correct horse"}


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_two_processes_and_a_restart_share_the_auth_rate_limit(
    ingest_env: dict[str, str],
) -> None:
    env = {**ingest_env, "AUTH_RATE_LIMIT_PER_MINUTE": "4"}
    first, stop_first = await start_api(env)
    second, stop_second = await start_api(env)
    try:
        statuses = []
        for api in (first, second, first, second, first):
            statuses.append((await api.client.post("/auth/login", json=wrong("x"))).status_code)
        assert statuses == [401, 401, 401, 401, 429]  # not 4 per process
        await stop_first()
        restarted, stop_first = await start_api(env)
        limited = await restarted.client.post("/auth/login", json=wrong("x"))
        assert limited.status_code == 429 and code(limited) == "rate_limited"
    finally:
        await stop_first()
        await stop_second()


async def test_two_processes_and_a_restart_share_the_login_lockout(
    ingest_env: dict[str, str],
) -> None:
    env = {**ingest_env, "LOGIN_MAX_FAILURES": "3", "LOGIN_LOCKOUT_SECONDS": "60"}
    first, stop_first = await start_api(env)
    second, stop_second = await start_api(env)
    try:
        await first.register("ivy")
        answers = [
            (await api.client.post("/auth/login", json=wrong("ivy"))).status_code
            for api in (first, second, first)
        ]
        assert answers == [401, 401, 401]
        locked = await second.client.post("/auth/login", json=right("ivy"))
        assert locked.status_code == 429 and code(locked) == "login_locked"
        await stop_second()
        restarted, stop_second = await start_api(env)
        still = await restarted.client.post("/auth/login", json=right("ivy"))
        assert still.status_code == 429 and code(still) == "login_locked"
    finally:
        await stop_first()
        await stop_second()


async def test_an_attackers_address_does_not_lock_the_owner_out(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api(LOGIN_MAX_FAILURES="3", LOGIN_LOCKOUT_SECONDS="60")
    await api.register("jack")
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")  # another client address
    async with httpx.AsyncClient(
        base_url=str(api.client.base_url), transport=transport, timeout=30
    ) as attacker:
        statuses = [
            (await attacker.post("/auth/login", json=wrong("jack"))).status_code for _ in "abcd"
        ]
        assert statuses == [401, 401, 401, 429]
        assert code(await attacker.post("/auth/login", json=right("jack"))) == "login_locked"
    # the owner, from their own address, logs in as usual (admins alike)
    assert (await api.client.post("/auth/login", json=right("jack"))).status_code == 200
    rows = await sql(api, "SELECT address FROM login_failures WHERE locked_until > 0")
    assert [r["address"] for r in rows] == ["127.0.0.2"]


async def test_the_waits_grow_after_the_threshold(make_api: Callable[..., Any]) -> None:
    api: Api = await make_api(
        LOGIN_MAX_FAILURES="2", LOGIN_LOCKOUT_SECONDS="60", LOGIN_LOCKOUT_MAX_SECONDS="200"
    )
    await api.register("kim")
    waits = []
    for _ in range(4):
        for _ in range(1 if waits else 2):
            assert (await api.client.post("/auth/login", json=wrong("kim"))).status_code == 401
        locked = await api.client.post("/auth/login", json=wrong("kim"))
        assert locked.status_code == 429
        waits.append(int(locked.headers["Retry-After"]))
        # the lock runs out (as if its time had passed); the count stays
        await sql(api, "UPDATE login_failures SET locked_until = 0")
    assert [w // 10 * 10 for w in waits] == [60, 120, 200, 200], waits
    # a success clears the pair's count: the next failure does not lock again
    assert (await api.client.post("/auth/login", json=right("kim"))).status_code == 200
    assert (await api.client.post("/auth/login", json=wrong("kim"))).status_code == 401
    assert (await api.client.post("/auth/login", json=wrong("kim"))).status_code == 401
