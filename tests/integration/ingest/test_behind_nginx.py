"""Behind the shipped nginx, the client cannot choose the address ingest sees (issue 26, item 7).

A real ingest on loopback (trusting ``X-Forwarded-For`` from its proxy, 127.0.0.1, as Compose
trusts nginx's network) behind Debian's nginx running ``infra/nginx.conf``. Each request names
another address in ``X-Forwarded-For``; they all count against the one address nginx saw, so the
per-address limit of the auth routes still applies. With nginx appending to the header instead
of overwriting it, every request would get a fresh address and a fresh limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from services.core.runtime.process import free_port
from tests.support.nginx import shipped_nginx


async def test_a_spoofed_x_forwarded_for_does_not_change_the_client_address(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api(AUTH_RATE_LIMIT_PER_MINUTE="3")
    ingest_port = api.client.base_url.port
    # the notifier is not reached by these requests; its upstream only has to be well-formed
    async with (
        shipped_nginx({"ingest": ingest_port, "notifier": free_port()}) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        statuses = []
        for n in range(4):
            response = await client.post(
                "/auth/login",
                json={"username": "nobody", "password": "wrong-wrong"},
                headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
            )
            statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429]
