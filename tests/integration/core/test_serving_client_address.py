"""The public port believes ``X-Forwarded-For`` only from ``FORWARDED_ALLOW_IPS`` (issue 26, 7).

``vidpipe up``'s origin (``vidpipe web``) has no proxy in front: by default no one is trusted,
so a local client cannot name its own address (uvicorn's own default trusts loopback, which is
where every client of ``vidpipe up`` comes from). Configured, the named proxy is believed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from services.core.runtime.ports import read_report
from tests.support.eventually import eventually_sync

SERVER = """
import asyncio, sys
from pathlib import Path
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from services.core.http.serving import serve
from services.core.runtime.settings import Settings

async def peer(request):
    return JSONResponse({"client": request.client.host, "scheme": request.url.scheme})

settings = Settings.from_env()
app = Starlette(routes=[Route("/", peer)])
asyncio.run(serve(app, "127.0.0.1", 0, report_to=Path(sys.argv[1]),
                  forwarded_allow_ips=settings.forwarded_allow_ips))
"""


def _seen(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    report = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(report)], env=env)
    try:

        def answer() -> dict[str, str] | None:
            assert proc.poll() is None, "the server exited"
            port = read_report(report, proc.pid) if report.exists() else None
            if port is None:
                return None
            response = httpx.get(
                f"http://127.0.0.1:{port}/",
                headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
                timeout=2,
            )
            seen: dict[str, str] = response.json()
            return seen

        return eventually_sync(
            answer, timeout=30, message="the server to answer", ignoring=(httpx.TransportError,)
        )
    finally:
        proc.terminate()
        proc.wait(20)


def test_by_default_no_client_names_its_own_address(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"}
    assert _seen(tmp_path, env) == {"client": "127.0.0.1", "scheme": "http"}


def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    env = {**os.environ, "FORWARDED_ALLOW_IPS": "127.0.0.1/32"}
    assert _seen(tmp_path, env) == {"client": "203.0.113.7", "scheme": "https"}
