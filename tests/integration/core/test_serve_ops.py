"""``serve_ops``: the ops endpoints on a real loopback socket, started and stopped."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from services.core.http.ops import serve_ops


def registry_with_samples() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("vidpipe_test_events", "Events seen.", registry=registry).inc(3)
    return registry


async def healthy() -> dict[str, Any]:
    return {"status": "ok", "consumer": "running"}


async def test_serve_ops_listens_until_stopped() -> None:
    server = await serve_ops("127.0.0.1", 0, healthy, registry_with_samples())
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/health")).json()["status"] == "ok"
            assert "vidpipe_test_events_total" in (await client.get("/metrics")).text
    finally:
        await server.stop()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=base) as client:
            await client.get("/health")


async def test_serve_ops_busy_port_raises() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(OSError):
            await serve_ops("127.0.0.1", port, healthy)
