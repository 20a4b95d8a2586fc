"""``/docs`` and ``/asyncapi.yaml`` on the public origin, and its Content-Security-Policy."""

from __future__ import annotations

import re

import yaml

from tests.support.ingest import Api

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def directives(csp: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in csp.split(";"))):
        name, *values = part.split()
        parsed[name] = values
    return parsed


async def test_no_route_allows_inline_scripts(public_origin: Api) -> None:
    headers = await public_origin.user()
    for path, auth, status in [
        ("/", {}, 404),
        ("/docs", {}, 200),
        ("/docs/swagger-initializer.js", {}, 200),
        ("/openapi.json", {}, 200),
        ("/asyncapi.yaml", {}, 200),
        ("/jobs", headers, 200),
        ("/jobs", {}, 401),
    ]:
        response = await public_origin.client.get(path, headers=auth)
        assert response.status_code == status, (path, response.text)
        csp = directives(response.headers["Content-Security-Policy"])
        assert csp["script-src"] == ["'self'"], (path, csp)
        assert "'unsafe-inline'" not in csp.get("default-src", []), path
        assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"], path
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (path, name)


async def test_the_docs_page_has_no_inline_script_and_loads_files_of_its_origin(
    public_origin: Api,
) -> None:
    page = (await public_origin.client.get("/docs")).text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts)
    assert 'href="/asyncapi.yaml"' in page and 'href="/openapi.json"' in page
    for src in re.findall(r'(?:src|href)="(/docs/[^"]+)"', page):
        response = await public_origin.client.get(src)
        assert response.status_code == 200 and response.content, src
    initializer = await public_origin.client.get("/docs/swagger-initializer.js")
    assert initializer.headers["content-type"].startswith("text/javascript")
    assert '"/openapi.json"' in initializer.text


async def test_only_the_viewers_files_are_served_and_none_is_documented(
    public_origin: Api,
) -> None:
    for name in ("index.html", "swagger-editor-bundle.js", "..%2Fdocs.py", "LICENSE"):
        response = await public_origin.client.get(f"/docs/{name}")
        assert response.status_code == 404, name
        assert response.json()["error"]["code"] == "not_found"
    paths = (await public_origin.client.get("/openapi.json")).json()["paths"]
    assert "/docs" in paths and "/asyncapi.yaml" in paths
    assert not [path for path in paths if path.startswith("/docs/")]


async def test_the_asyncapi_document_is_served(public_origin: Api) -> None:
    response = await public_origin.client.get("/asyncapi.yaml")
    assert response.headers["content-type"] == "application/yaml"
    document = yaml.safe_load(response.text)
    assert document["asyncapi"].startswith("3.") and "video.jobs" in response.text
