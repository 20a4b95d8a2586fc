"""The built web app on the public origin, beside the API, through real HTTP (a tiny fake build)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.cli.registry import SERVICES
from services.cli.web import compose
from services.cli.webapp import WebApp
from services.core.runtime.process import free_port
from services.core.runtime.settings import Settings
from tests.support.eventually import eventually
from tests.support.ingest import Api, start_server

PAGE = '<!doctype html><html><head><script type="module" src="/assets/app-1a2b.js"></script>'
ASSET = "console.log('vidpipe');"
NAVIGATE = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # Chromium's


async def origin(env: dict[str, str], dist: Path) -> AsyncIterator[Api]:
    settings = Settings.from_env({**env, "VIDPIPE_WEB_DIST": str(dist)})
    apps = [service.create_app(settings) for service in SERVICES if service.public]
    server, task, base = await start_server(compose(apps, WebApp(settings.web_dist)))
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield Api(client, settings)
    server.should_exit = True
    await task


@pytest.fixture
async def site(ingest_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Api]:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(PAGE)
    (dist / "assets" / "app-1a2b.js").write_text(ASSET)
    (dist / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside the build")
    async for api in origin(ingest_env, dist):
        yield api


@pytest.fixture
async def unbuilt(ingest_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Api]:
    async for api in origin(ingest_env, tmp_path / "no-build-here"):
        yield api


async def test_app_routes_serve_the_page_with_the_security_headers(site: Api) -> None:
    for path in ["/", "/login", "/register", "/upload", "/admin", "/admin/jobs", "/no/such"]:
        response = await site.client.get(path, headers={"Accept": NAVIGATE})
        assert response.status_code == 200, path
        assert response.text == PAGE and response.headers["content-type"].startswith("text/html")
        assert response.headers["Cache-Control"] == "no-cache"
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "media-src 'self' blob:" in csp, csp
        assert "worker-src 'self' blob:" in csp and "'unsafe-eval'" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
    # app routes no API route answers are the page whatever the Accept
    assert (await site.client.get("/login", headers={"Accept": "*/*"})).text == PAGE


async def test_hashed_assets_are_served_with_a_long_cache(site: Api) -> None:
    response = await site.client.get("/assets/app-1a2b.js")
    assert response.status_code == 200 and response.text == ASSET
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "javascript" in response.headers["content-type"]
    assert (await site.client.get("/favicon.svg")).text == "<svg/>"
    missing = await site.client.get("/assets/gone.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    escape = await site.client.get("/assets/../../secret.txt")
    assert "outside the build" not in escape.text


async def test_api_clients_keep_the_api_on_paths_the_app_shares(site: Api) -> None:
    headers = await site.user()
    for accept in ["application/json", "*/*", "application/json, text/html;q=0.5"]:
        listed = await site.client.get("/jobs", headers={**headers, "Accept": accept})
        assert listed.status_code == 200 and listed.json()["items"] == [], accept
        job = await site.client.get(
            "/jobs/00000000-0000-4000-8000-000000000000", headers={**headers, "Accept": accept}
        )
        assert job.status_code == 404 and job.json()["error"]["code"] == "not_found"
    anonymous = await site.client.get("/jobs", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401


async def test_a_reload_of_a_deep_link_gets_the_page(site: Api) -> None:
    for path in ["/jobs", "/jobs/00000000-0000-4000-8000-000000000000", "/admin/users"]:
        response = await site.client.get(path, headers={"Accept": NAVIGATE})
        assert response.status_code == 200 and response.text == PAGE, path


async def test_api_only_paths_stay_the_api_for_a_browser(site: Api) -> None:
    docs = await site.client.get("/docs", headers={"Accept": NAVIGATE})
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    document = await site.client.get("/openapi.json", headers={"Accept": NAVIGATE})
    assert document.json()["openapi"].startswith("3.1")
    history = await site.client.get(
        "/jobs/00000000-0000-4000-8000-000000000000/history", headers={"Accept": NAVIGATE}
    )
    assert history.status_code == 401  # an API path, never the page
    posted = await site.client.post("/", headers={"Accept": NAVIGATE})
    assert posted.status_code in (404, 405) and posted.json()["error"]


async def test_without_a_build_the_root_names_the_build_command(unbuilt: Api) -> None:
    response = await unbuilt.client.get("/", headers={"Accept": NAVIGATE})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found" and "npm run build" in error["message"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    deep = await unbuilt.client.get("/jobs", headers={"Accept": NAVIGATE})
    assert deep.status_code == 401  # the API, as before


async def test_vidpipe_web_serves_the_build_it_is_pointed_at(
    ingest_env: dict[str, str], tmp_path: Path
) -> None:
    """The command itself (what ``vidpipe up`` runs), as a process: VIDPIPE_WEB_DIST is read."""
    dist = tmp_path / "build"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(PAGE)
    (dist / "assets" / "app-1a2b.js").write_text(ASSET)
    port = free_port()
    env = {**os.environ, **ingest_env, "VIDPIPE_WEB_DIST": str(dist), "PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "web",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

            async def page() -> httpx.Response | None:
                try:
                    response = await client.get("/jobs/x", headers={"Accept": NAVIGATE})
                except httpx.TransportError:
                    return None  # not listening yet
                return response if response.status_code == 200 else None

            assert (
                await eventually(page, timeout=60, message="vidpipe web answering")
            ).text == PAGE
            asset = await client.get("/assets/app-1a2b.js")
            assert asset.text == ASSET and "immutable" in asset.headers["Cache-Control"]
            assert (await client.get("/jobs", headers={"Accept": "*/*"})).status_code == 401
    finally:
        proc.terminate()
        await proc.wait()


NUL_PATHS = [
    "/%00",
    "/index.html%00",
    "/assets/app-1a2b.js%00",
    "/assets/%00/x",
    "/favicon.svg%00.png",
    "/jobs/%00",
    "/jobs/00000000-0000-4000-8000-000000000000%00/history",
    "/media/%00/x",
    "/docs/%00",
    "/login%00",
]


async def test_a_nul_byte_anywhere_in_the_path_is_a_404(site: Api) -> None:
    headers = await site.user()
    for path in NUL_PATHS:
        for accept in (NAVIGATE, "application/json"):
            response = await site.client.get(path, headers={**headers, "Accept": accept})
            assert response.status_code == 404, (path, accept, response.status_code)
            assert response.json()["error"]["code"] == "not_found", path
        deleted = await site.client.delete(path, headers=headers)
        assert deleted.status_code == 404, (path, deleted.status_code)
    assert (await site.client.get("/health")).status_code == 200
