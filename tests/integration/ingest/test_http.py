"""Cross-cutting HTTP behaviour: headers, request ids, ops routes, the OpenAPI document."""

from __future__ import annotations

from prometheus_client import generate_latest
from starlette.routing import Route

from services.core.http.openapi import document, route_methods
from services.ingest.app import create_app
from tests.support.ingest import Api


async def test_security_headers_and_request_id(api: Api) -> None:
    response = await api.client.get("/health")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in response.headers, "HSTS only over TLS"
    generated = response.headers["X-Request-ID"]
    assert len(generated) >= 16
    echoed = await api.client.get("/health", headers={"X-Request-ID": "req-123"})
    assert echoed.headers["X-Request-ID"] == "req-123"
    hostile = await api.client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert hostile.headers["X-Request-ID"] != "bad id\twith spaces"


async def test_ready_metrics_and_docs(api: Api) -> None:
    ready = await api.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"postgres": "ok", "kafka": "ok"}
    await api.client.get("/jobs")
    metrics = generate_latest().decode()  # the process's registry: /metrics is on OPS_PORT
    assert 'http_requests_total{method="GET",route="/jobs",status="401"}' in metrics
    assert (await api.client.get("/metrics")).status_code == 404  # never on the public port
    docs = await api.client.get("/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text
    not_found = await api.client.get("/no/such/route")
    assert not_found.status_code == 404 and not_found.json()["error"]["code"] == "not_found"


async def test_openapi_matches_the_routes(api: Api) -> None:
    served = (await api.client.get("/openapi.json")).json()
    app = create_app(api.settings)
    assert served == document(app.routes) and served["openapi"] == "3.1.0"
    real = {
        (route.path_format, method)  # "{path:path}" is documented as "{path}"
        for route in app.routes
        if isinstance(route, Route) and route.include_in_schema  # /docs/{asset}: on purpose
        for method in route_methods(route)  # HEAD only where GET does not imply it
    }
    documented = {(path, method) for path, ops in served["paths"].items() for method in ops}
    assert documented == real


async def test_cors_allow_list(make_api) -> None:  # type: ignore[no-untyped-def]
    api = await make_api(CORS_ORIGINS="https://app.example")
    allowed = await api.client.options(
        "/jobs", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    )
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
    denied = await api.client.options(
        "/jobs", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in denied.headers


async def test_hsts_only_over_tls(api: Api) -> None:
    import httpx

    app = create_app(api.settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://vidpipe.example") as tls:
        response = await tls.get("/openapi.json")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_a_nul_byte_in_the_path_is_a_404_on_ingest_alone(api: Api) -> None:
    headers = await api.user()
    paths = [
        "/%00",
        "/jobs/%00",
        "/jobs/00000000-0000-4000-8000-000000000000%00",
        "/media/%00/x",
        "/media/00000000-0000-4000-8000-000000000000/1/9999999999/sig/a%00.m3u8",
        "/docs/%00",
        "/uploads/%00",
    ]
    for path in paths:
        for method in ("GET", "DELETE", "PATCH", "HEAD"):
            response = await api.client.request(method, path, headers=headers)
            assert response.status_code == 404, (method, path, response.status_code)
            if method != "HEAD":
                assert response.json()["error"]["code"] == "not_found"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert (await api.client.get("/health")).status_code == 200
