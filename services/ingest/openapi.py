"""The OpenAPI 3.1 document of the public API and a self-contained docs page.

Written by hand (so it says what clients may rely on); a test checks that its paths and
methods are exactly the app's routes.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from schemas.options import PRESETS

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def _error(description: str) -> Schema:
    return {"description": description, **_json(_ref("Error"))}


STRING_OR_NULL: Schema = {"type": ["string", "null"]}
NUMBER_OR_NULL: Schema = {"type": ["number", "null"]}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "User": {
        "type": "object",
        "required": ["id", "username", "email", "role"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "username": {"type": "string"},
            "email": {"type": "string"},
            "role": {"type": "string", "enum": ["user", "admin"]},
        },
    },
    "Tokens": {
        "type": "object",
        "required": ["access_token", "refresh_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "refresh_token": {"type": "string"},
            "token_type": {"const": "bearer"},
            "expires_in": {"type": "integer"},
        },
    },
    "Output": {
        "type": "object",
        "required": ["name", "url"],
        "properties": {
            "name": {"type": "string"},
            "content_type": STRING_OR_NULL,
            "size_bytes": {"type": ["integer", "null"]},
            "url": {"type": "string"},
        },
    },
    "Job": {
        "type": "object",
        "required": [
            "id",
            "status",
            "progress",
            "original_filename",
            "processing_options",
            "created_at",
            "attempts",
            "metadata",
            "outputs",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "user_id": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["pending", "processing", "completed", "failed", "cancelled"],
            },
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "original_filename": {"type": "string"},
            "processing_options": {"type": "object"},
            "error_message": STRING_OR_NULL,
            "created_at": STRING_OR_NULL,
            "started_at": STRING_OR_NULL,
            "completed_at": STRING_OR_NULL,
            "updated_at": STRING_OR_NULL,
            "attempts": {"type": "integer"},
            "cancel_requested": {"type": "boolean"},
            "batch_id": STRING_OR_NULL,
            "source_size": {"type": "integer"},
            "source_sha256": {"type": "string"},
            "metadata": {
                "type": "object",
                "properties": {
                    "duration_s": NUMBER_OR_NULL,
                    "width": {"type": ["integer", "null"]},
                    "height": {"type": ["integer", "null"]},
                    "video_codec": STRING_OR_NULL,
                    "audio_codec": STRING_OR_NULL,
                    "fps": NUMBER_OR_NULL,
                    "bitrate": {"type": ["integer", "null"]},
                },
            },
            "outputs": {"type": "array", "items": _ref("Output")},
        },
    },
    "JobList": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("Job")},
            "next_cursor": STRING_OR_NULL,
        },
    },
    "HistoryList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"type": "object"}}},
    },
    "Accepted": {
        "type": "object",
        "required": ["id", "accepted"],
        "properties": {
            "id": {"type": "string"},
            "accepted": {"type": "array", "items": {"type": "string"}},
        },
    },
}

AUTH_ERRORS = {
    "401": _error("missing, invalid or expired token"),
    "429": _error("rate limited; see Retry-After"),
}
JOB_ID = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}]


def _body(required: list[str], properties: Schema) -> Schema:
    return {
        "required": True,
        **_json({"type": "object", "required": required, "properties": properties}),
    }


def _op(summary: str, responses: dict[str, Any], *, auth: bool = True, **extra: Any) -> Schema:
    op: Schema = {"summary": summary, "responses": {**responses, **(AUTH_ERRORS if auth else {})}}
    if auth:
        op["security"] = [{"bearer": []}]
    return op | extra


def _auth_paths() -> dict[str, Any]:
    token_body = _body(["refresh_token"], {"refresh_token": {"type": "string"}})
    return {
        "/auth/register": {
            "post": _op(
                "Create an account",
                {
                    "201": {"description": "created", **_json(_ref("User"))},
                    "409": _error("username or email taken"),
                    "422": _error("invalid input"),
                },
                auth=False,
                requestBody=_body(
                    ["username", "email", "password"],
                    {
                        "username": {"type": "string"},
                        "email": {"type": "string"},
                        "password": {"type": "string", "minLength": 8},
                    },
                ),
            )
        },
        "/auth/login": {
            "post": _op(
                "Log in with username or email",
                {
                    "200": {"description": "tokens", **_json(_ref("Tokens"))},
                    "401": _error("bad credentials"),
                },
                auth=False,
                requestBody=_body(
                    ["username", "password"],
                    {"username": {"type": "string"}, "password": {"type": "string"}},
                ),
            )
        },
        "/auth/refresh": {
            "post": _op(
                "Rotate a refresh token",
                {"200": {"description": "tokens", **_json(_ref("Tokens"))}},
                auth=False,
                requestBody=token_body,
            )
        },
        "/auth/logout": {
            "post": _op(
                "Revoke a refresh token's session",
                {"204": {"description": "logged out"}},
                auth=False,
                requestBody=token_body,
            )
        },
    }


def _job_paths() -> dict[str, Any]:
    accepted = {
        "202": {"description": "accepted", **_json(_ref("Accepted"))},
        "404": _error("no such job"),
        "409": _error("illegal in the job's state"),
    }
    upload_form = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "options": {
                            "type": "string",
                            "description": f"JSON: a preset ({', '.join(sorted(PRESETS))})"
                            " or explicit fields",
                        },
                    },
                }
            }
        },
    }
    return {
        "/upload": {
            "post": _op(
                "Upload one or more videos (one job each)",
                {
                    "202": {
                        "description": "job(s) accepted",
                        **_json(
                            {
                                "oneOf": [
                                    _ref("Job"),
                                    {
                                        "type": "object",
                                        "required": ["jobs"],
                                        "properties": {
                                            "jobs": {"type": "array", "items": _ref("Job")}
                                        },
                                    },
                                ]
                            }
                        ),
                    },
                    "400": _error("malformed body"),
                    "413": _error("file too large"),
                    "415": _error("not a video"),
                    "422": _error("no file or bad options"),
                },
                requestBody=upload_form,
            )
        },
        "/jobs": {
            "get": _op(
                "List your jobs, newest first",
                {
                    "200": {"description": "a page", **_json(_ref("JobList"))},
                    "422": _error("bad filter"),
                },
                parameters=[
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "user_id",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "admins only",
                    },
                ],
            )
        },
        "/jobs/{job_id}": {
            "get": _op(
                "Job details",
                {
                    "200": {"description": "the job", **_json(_ref("Job"))},
                    "404": _error("no such job"),
                },
                parameters=JOB_ID,
            ),
            "delete": _op(
                "Cancel if running, delete files, hide the job", accepted, parameters=JOB_ID
            ),
        },
        "/jobs/{job_id}/history": {
            "get": _op(
                "Processing history",
                {
                    "200": {"description": "rows", **_json(_ref("HistoryList"))},
                    "404": _error("no such job"),
                },
                parameters=JOB_ID,
            )
        },
        "/jobs/{job_id}/download": {
            "get": _op(
                "Download the main or a named output",
                {
                    "200": {"description": "the file (Range supported)"},
                    "206": {"description": "a byte range"},
                    "307": {"description": "redirect to a presigned URL (S3 storage)"},
                    "404": _error("no such job or output"),
                    "409": _error("no outputs yet"),
                    "416": {"description": "range not satisfiable"},
                },
                parameters=[
                    *JOB_ID,
                    {"name": "output", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
        "/jobs/{job_id}/cancel": {"post": _op("Cancel", accepted, parameters=JOB_ID)},
        "/jobs/{job_id}/retry": {
            "post": _op("Retry a failed or cancelled job", accepted, parameters=JOB_ID)
        },
        "/jobs/{job_id}/reprocess": {
            "post": _op(
                "Run again with new options",
                {**accepted, "422": _error("invalid options")},
                parameters=JOB_ID,
                requestBody={
                    "required": False,
                    **_json({"type": "object", "properties": {"options": {"type": "object"}}}),
                },
            )
        },
    }


def _ops_paths() -> dict[str, Any]:
    plain = {"200": {"description": "ok", **_json({"type": "object"})}}
    return {
        "/health": {"get": _op("Liveness", plain, auth=False)},
        "/ready": {
            "get": _op(
                "Readiness: PostgreSQL and the broker reachable",
                {**plain, "503": {"description": "not ready", **_json({"type": "object"})}},
                auth=False,
            )
        },
        "/metrics": {
            "get": _op("Prometheus metrics", {"200": {"description": "text format"}}, auth=False)
        },
        "/openapi.json": {"get": _op("This document", plain, auth=False)},
        "/docs": {
            "get": _op("Human-readable API docs", {"200": {"description": "HTML"}}, auth=False)
        },
    }


def document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vidpipe API",
            "version": "0.1.0",
            "description": "Upload videos, follow their jobs, download the results.",
        },
        "paths": {**_auth_paths(), **_job_paths(), **_ops_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


async def openapi_json(request: Request) -> Response:
    return JSONResponse(document())


DOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>vidpipe API</title><style>body{font:15px system-ui;max-width:60rem;margin:2rem auto}
code{background:#eee;padding:0 .3em}section{border-top:1px solid #ccc;padding:.5rem 0}</style>
</head><body><h1>vidpipe API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a>.
Authenticate with <code>Authorization: Bearer &lt;access_token&gt;</code> from
<code>POST /auth/login</code>.</p><div id="ops"></div><script>
fetch('/openapi.json').then(r=>r.json()).then(d=>{const o=document.getElementById('ops');
for(const [p,ms] of Object.entries(d.paths))for(const [m,op] of Object.entries(ms)){
const s=document.createElement('section');const h=document.createElement('h3');
h.textContent=m.toUpperCase()+' '+p;const q=document.createElement('p');q.textContent=op.summary+
' \\u2014 responses: '+Object.keys(op.responses).join(', ');s.append(h,q);o.append(s);}});
</script></body></html>"""


async def docs_page(request: Request) -> Response:
    return HTMLResponse(DOCS_PAGE)
