"""The OpenAPI document, built from the public apps' route tables without any server running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.cli.registry import SERVICES
from services.cli.web import compose
from services.core.http.openapi import (
    METHODS,
    REF_TEMPLATE,
    TAGS,
    MissingOperation,
    Operation,
    Reply,
    document,
    operation,
    operation_of,
    route_methods,
)
from services.core.runtime.settings import Settings

Schema = dict[str, Any]
STRING = {"type": "string"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"JWT_SECRET": "s" * 40, "VIDPIPE_DATA_DIR": str(tmp_path)})


def public_apps(settings: Settings) -> list[Starlette]:
    return [service.create_app(settings) for service in SERVICES if service.public]


async def served_document(settings: Settings) -> tuple[Schema, list[Starlette]]:
    """``/openapi.json`` of the composed public origin, asked through ASGI (no socket)."""
    apps = public_apps(settings)
    transport = httpx.ASGITransport(app=compose(apps))
    async with httpx.AsyncClient(transport=transport, base_url="http://vidpipe.test") as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json(), apps


def route_table(apps: list[Starlette]) -> dict[tuple[str, str], Operation]:
    """Every (path, method) the origin answers, first app first, with its operation (routes
    made with ``include_in_schema=False`` are deliberately undocumented)."""
    table: dict[tuple[str, str], Operation] = {}
    for app in apps:
        for route in app.routes:
            assert isinstance(route, Route)
            if not route.include_in_schema:
                continue
            described = operation_of(route.endpoint)
            assert described is not None, f"{route.path} has no @operation"
            for method in route_methods(route) & set(METHODS):
                table.setdefault((route.path_format, method), described)
    return table


def component(doc: Schema, ref: Schema) -> Schema:
    prefix = REF_TEMPLATE.format(model="")
    assert ref["$ref"].startswith(prefix), ref
    schemas: Schema = doc["components"]["schemas"]
    return dict(schemas[ref["$ref"].removeprefix(prefix)])


def assert_is_model_schema(doc: Schema, ref: Schema, model: type[BaseModel], mode: str) -> None:
    """``ref`` names ``model``'s own JSON Schema, and every schema it refers to is there too."""
    own = model.model_json_schema(ref_template=REF_TEMPLATE, mode=mode)  # type: ignore[arg-type]
    nested = own.pop("$defs", {})
    assert component(doc, ref) == own, model.__name__
    for name, schema in nested.items():
        assert doc["components"]["schemas"][name] == schema, (model.__name__, name)


async def test_every_route_has_an_operation_and_every_operation_a_route(
    settings: Settings,
) -> None:
    doc, apps = await served_document(settings)
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert documented == set(route_table(apps))
    assert {"/events", "/jobs/{job_id}/events", "/upload", "/auth/login"} <= set(doc["paths"])
    assert {"/docs", "/asyncapi.yaml"} <= set(doc["paths"])


def test_a_route_left_out_of_the_schema_is_not_documented() -> None:
    hidden = Route("/files/{name}", _plain, methods=["GET"], include_in_schema=False)
    assert document([hidden])["paths"] == {}


async def test_request_and_response_schemas_are_the_models_schemas(settings: Settings) -> None:
    doc, apps = await served_document(settings)
    for (path, method), described in route_table(apps).items():
        op = doc["paths"][path][method]
        assert op["summary"] == described.summary
        if described.body is not None:
            content = op["requestBody"]["content"][described.body_media_type]
            assert_is_model_schema(doc, content["schema"], described.body, "validation")
        else:
            assert "requestBody" not in op, (method, path)
        assert set(op["responses"]) == {str(status) for status in described.responses}
        for status, reply in described.responses.items():
            _check_reply(doc, op["responses"][str(status)], reply)


def _check_reply(doc: Schema, documented: Schema, reply: Reply) -> None:
    models = reply.models()
    if not models:
        expected = None if reply.schema is None else {reply.media_type: {"schema": reply.schema}}
        assert documented.get("content") == expected
        return
    schema = documented["content"]["application/json"]["schema"]
    refs = schema["oneOf"] if len(models) > 1 else [schema]
    for ref, model in zip(refs, models, strict=True):
        assert_is_model_schema(doc, ref, model, "serialization")


async def test_streams_are_server_sent_events_and_take_the_token_in_the_query(
    settings: Settings,
) -> None:
    doc, _ = await served_document(settings)
    for path in ("/events", "/jobs/{job_id}/events"):
        op = doc["paths"][path]["get"]
        assert set(op["responses"]["200"]["content"]) == {"text/event-stream"}
        assert {"bearer": []} in op["security"] and {"access_token": []} in op["security"]
        assert "Last-Event-ID" in {p["name"] for p in op["parameters"] if p["in"] == "header"}
    assert doc["components"]["securitySchemes"]["access_token"]["in"] == "query"


async def test_the_document_is_valid_openapi_3_1(settings: Settings) -> None:
    doc, _ = await served_document(settings)
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"]
    for path, item in doc["paths"].items():
        for name in (p.strip("{}") for p in path.split("/") if p.startswith("{")):
            for op in item.values():
                expected = {"name": name, "in": "path", "required": True, "schema": STRING}
                assert expected in op["parameters"], (path, name)
        for op in item.values():
            assert op["responses"] and all(r["description"] for r in op["responses"].values())
            for scheme in op.get("security", []):
                assert set(scheme) <= set(doc["components"]["securitySchemes"])
    _assert_refs_resolve(doc, doc)
    try:
        from openapi_spec_validator import validate
    except ImportError:  # the structural checks above still ran
        return
    validate(doc)


def _assert_refs_resolve(doc: Schema, node: object) -> None:
    if isinstance(node, dict):
        if "$ref" in node:
            component(doc, node)
        for value in node.values():
            _assert_refs_resolve(doc, value)
    elif isinstance(node, list):
        for value in node:
            _assert_refs_resolve(doc, value)


async def test_ingest_alone_describes_only_its_own_routes(settings: Settings) -> None:
    ingest = next(s for s in SERVICES if s.name == "ingest").create_app(settings)
    transport = httpx.ASGITransport(app=ingest)
    async with httpx.AsyncClient(transport=transport, base_url="http://vidpipe.test") as client:
        doc = (await client.get("/openapi.json")).json()
    assert "/upload" in doc["paths"] and "/events" not in doc["paths"]
    assert "access_token" not in doc["components"]["securitySchemes"]


async def _plain(request: Request) -> Response:
    return Response()


def test_a_route_without_an_operation_is_refused() -> None:
    with pytest.raises(MissingOperation, match="GET /bare"):
        document([Route("/bare", _plain, methods=["GET"])])


def test_the_first_route_for_a_path_and_method_wins_as_in_routing() -> None:
    first = operation("first", {200: Reply("ok")}, tag="ops")(lambda request: Response())
    second = operation("second", {200: Reply("ok")}, tag="ops")(lambda request: Response())
    doc = document([Route("/x", first, methods=["GET"]), Route("/x", second, methods=["GET"])])
    assert doc["paths"]["/x"]["get"]["summary"] == "first"


async def test_docs_groups_every_operation_by_its_capability(settings: Settings) -> None:
    doc, _ = await served_document(settings)
    declared = [t["name"] for t in doc["tags"]]
    assert declared == [t for t in TAGS if t in declared]  # the catalogue's order
    tag = {(p, m): op["tags"] for p, ops in doc["paths"].items() for m, op in ops.items()}
    assert all(len(t) == 1 and t[0] in declared for t in tag.values())
    assert tag[("/upload", "post")] == ["uploads"]
    assert tag[("/uploads/", "post")] == ["uploads"]
    assert tag[("/jobs", "get")] == ["jobs"]
    assert tag[("/jobs/bulk", "post")] == ["jobs"]
    assert tag[("/auth/login", "post")] == ["accounts"]
    assert tag[("/admin/overview", "get")] == ["admin"]
    assert tag[("/events", "get")] == ["events"]
    assert tag[("/jobs/{job_id}/events", "get")] == ["events"]
    assert tag[("/health", "get")] == ["ops"]
    assert tag[("/openapi.json", "get")] == ["docs"]
    assert {t[0] for t in tag.values()} >= {"accounts", "jobs", "uploads", "media", "admin"}


def test_an_operation_outside_a_capability_needs_a_tag() -> None:
    @operation("untagged", {200: Reply("ok")})
    async def endpoint(request: Request) -> Response:
        return Response()

    with pytest.raises(MissingOperation, match="no tag"):
        document([Route("/x", endpoint)])
    tagged = operation("tagged", {200: Reply("ok")}, tag="ops")(endpoint)
    assert document([Route("/x", tagged)])["paths"]["/x"]["get"]["tags"] == ["ops"]
