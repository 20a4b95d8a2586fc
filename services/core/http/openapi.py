"""The OpenAPI 3.1 document of a public origin, generated from its route table (pure, no I/O).

Each endpoint carries its ``Operation`` (``@operation(...)`` beside the handler); request and
response schemas are the pydantic models it names; paths and path parameters come from the
routes themselves. Nothing here imports a service: the document describes the routes it is
given, so it lists exactly what the origin serves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

Schema = dict[str, Any]
E = TypeVar("E")
REF_TEMPLATE = "#/components/schemas/{model}"
METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
_ATTRIBUTE = "__openapi_operation__"
_PATH_TYPES: dict[str, Schema] = {
    "IntegerConvertor": {"type": "integer"},
    "FloatConvertor": {"type": "number"},
    "UUIDConvertor": {"type": "string", "format": "uuid"},
}
SECURITY_SCHEMES: dict[str, Schema] = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "access_token": {
        "type": "apiKey",
        "in": "query",
        "name": "access_token",
        "description": "the access token as a query parameter, for EventSource (no headers)",
    },
}


def _version() -> str:
    try:
        return metadata.version("vidpipe")
    except metadata.PackageNotFoundError:  # running from a tree that was never installed
        return "0.0.0"


INFO: Schema = {
    "title": "vidpipe API",
    "version": _version(),
    "description": "Upload videos, follow their jobs, download the results.",
}


class MissingOperation(Exception):
    """A route's endpoint carries no ``Operation``: the document would be incomplete."""


@dataclass(frozen=True)
class Reply:
    """One documented answer: a JSON ``model`` (a tuple: one of them), or another
    ``media_type`` with a ``schema``."""

    description: str
    model: type[BaseModel] | tuple[type[BaseModel], ...] | None = None
    media_type: str = "application/json"
    schema: Schema | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # name -> description

    def models(self) -> tuple[type[BaseModel], ...]:
        if isinstance(self.model, tuple):
            return self.model
        return (self.model,) if self.model else ()


@dataclass(frozen=True)
class Param:
    """A query or header parameter (path parameters come from the route)."""

    name: str
    schema: Schema
    description: str = ""
    location: Literal["query", "header"] = "query"


TAGS: Mapping[str, str] = {
    "accounts": "Registration, login, token refresh and the caller's session",
    "uploads": "Uploading sources: one request (multipart) or resumable (tus 1.0)",
    "jobs": "Jobs: list, details, history, downloads, and commands (cancel, retry, delete)",
    "media": "A job's outputs through signed, expiring media URLs",
    "events": "Live job events over Server-Sent Events",
    "admin": "Deployment-wide views and actions (admins only)",
    "ops": "Health, readiness and metrics",
    "docs": "This document, the API docs page and the AsyncAPI document of the events",
}
"""The capabilities ``/docs`` groups operations by, in this order."""


@dataclass(frozen=True)
class Operation:
    """What the document says about one endpoint."""

    summary: str
    responses: Mapping[int, Reply]
    body: type[BaseModel] | None = None
    body_media_type: str = "application/json"
    body_required: bool = True
    params: tuple[Param, ...] = ()
    security: tuple[str, ...] = ()  # names in SECURITY_SCHEMES; any one of them will do
    tag: str | None = None
    """One of :data:`TAGS`; by default the capability package the endpoint is defined in
    (``services.ingest.jobs.routes`` → ``jobs``)."""

    def models(self) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
        found: list[tuple[type[BaseModel], JsonSchemaMode]] = []
        if self.body is not None:
            found.append((self.body, "validation"))
        found += [(m, "serialization") for r in self.responses.values() for m in r.models()]
        return found


def operation(
    summary: str,
    responses: Mapping[int, Reply],
    *,
    body: type[BaseModel] | None = None,
    body_media_type: str = "application/json",
    body_required: bool = True,
    params: tuple[Param, ...] = (),
    security: tuple[str, ...] = (),
    tag: str | None = None,
) -> Callable[[E], E]:
    """Attach an ``Operation`` to an endpoint (a function or an ASGI app object)."""
    described = Operation(
        summary, responses, body, body_media_type, body_required, params, security, tag
    )

    def attach(endpoint: E) -> E:
        setattr(endpoint, _ATTRIBUTE, described)
        return endpoint

    return attach


def tag_of(endpoint: object, op: Operation) -> str:
    """The operation's tag: its own, else the capability package its endpoint lives in."""
    if op.tag is not None:
        found = op.tag
    else:
        module = getattr(endpoint, "__module__", None) or type(endpoint).__module__
        parts = module.split(".")
        found = parts[2] if len(parts) > 3 else ""  # services.<service>.<capability>.<module>
    if found not in TAGS:
        raise MissingOperation(f"{endpoint!r}: no tag (one of {', '.join(TAGS)}) for /docs")
    return found


def operation_of(endpoint: object) -> Operation | None:
    found = getattr(endpoint, _ATTRIBUTE, None)
    return found if isinstance(found, Operation) else None


def route_methods(route: Route) -> set[str]:
    """The route's methods, lower case; HEAD only where it is not implied by GET."""
    methods = {m.lower() for m in route.methods or ()}
    return methods - {"head"} if "get" in methods else methods


def operations(routes: Iterable[BaseRoute]) -> dict[tuple[str, str], tuple[Route, Operation]]:
    """Every ``(path, method)`` the routes answer, with its route and operation; for a pair
    served twice the first route wins, as in routing. A route made with
    ``include_in_schema=False`` (e.g. the files of the docs page) is deliberately left out."""
    found: dict[tuple[str, str], tuple[Route, Operation]] = {}
    for route in routes:
        if not isinstance(route, Route):
            raise MissingOperation(f"{route!r} is not a plain Route; cannot describe it")
        if not route.include_in_schema:
            continue
        described = operation_of(route.endpoint)
        for method in sorted(route_methods(route)):
            if method not in METHODS:
                continue
            if described is None:
                raise MissingOperation(f"{method.upper()} {route.path} has no @operation")
            found.setdefault((route.path_format, method), (route, described))
    return found


def document(routes: Iterable[BaseRoute], info: Schema = INFO) -> Schema:
    """The OpenAPI 3.1 document of ``routes``."""
    described = operations(routes)
    wanted = {pair: None for _, op in described.values() for pair in op.models()}
    refs, defs = models_json_schema(list(wanted), ref_template=REF_TEMPLATE)
    paths: dict[str, Schema] = {}
    for (path, method), (route, op) in described.items():
        paths.setdefault(path, {})[method] = _operation(route, op, refs)
    schemes = sorted({name for _, op in described.values() for name in op.security})
    used = {tag_of(route.endpoint, op) for route, op in described.values()}
    return {
        "openapi": "3.1.0",
        "info": info,
        "tags": [{"name": n, "description": d} for n, d in TAGS.items() if n in used],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {name: SECURITY_SCHEMES[name] for name in schemes},
        },
    }


def _operation(route: Route, op: Operation, refs: Mapping[Any, Schema]) -> Schema:
    out: Schema = {"summary": op.summary, "tags": [tag_of(route.endpoint, op)]}
    params = [
        {"name": name, "in": "path", "required": True, "schema": _path_type(convertor)}
        for name, convertor in route.param_convertors.items()
    ]
    params += [_param(p) for p in op.params]
    if params:
        out["parameters"] = params
    if op.body is not None:
        schema = refs[(op.body, "validation")]
        out["requestBody"] = {
            "required": op.body_required,
            "content": {op.body_media_type: {"schema": schema}},
        }
    out["responses"] = {
        str(status): _reply(reply, refs) for status, reply in sorted(op.responses.items())
    }
    if op.security:
        out["security"] = [{name: []} for name in op.security]
    return out


def _path_type(convertor: object) -> Schema:
    return dict(_PATH_TYPES.get(type(convertor).__name__, {"type": "string"}))


def _param(param: Param) -> Schema:
    out: Schema = {"name": param.name, "in": param.location, "schema": param.schema}
    if param.description:
        out["description"] = param.description
    return out


def _reply(reply: Reply, refs: Mapping[Any, Schema]) -> Schema:
    out: Schema = {"description": reply.description}
    if reply.headers:
        out["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in reply.headers.items()
        }
    schemas = [refs[(model, "serialization")] for model in reply.models()]
    schema = {"oneOf": schemas} if len(schemas) > 1 else schemas[0] if schemas else reply.schema
    if schema is not None:
        out["content"] = {reply.media_type: {"schema": schema}}
    return out


def model_response(
    model: BaseModel, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Answer with ``model``: the body is exactly what the document's schema describes."""
    return JSONResponse(model.model_dump(mode="json"), status_code=status_code, headers=headers)


def attach_document(app: Starlette, routes: Iterable[BaseRoute]) -> None:
    """Let ``app``'s ``/openapi.json`` describe ``routes``: its own, or a whole origin's."""
    app.state.openapi = document(routes)


@operation(
    "This document: the OpenAPI 3.1 description of this origin",
    {200: Reply("the document", schema={"type": "object"})},
    tag="docs",
)
async def openapi_json(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)
