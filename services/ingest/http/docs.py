"""``/docs``: Swagger UI for the generated ``/openapi.json``; ``/asyncapi.yaml``: events.

Swagger UI's files are read from the ``swagger-ui-py`` wheel (never a CDN: the page works with
no internet); the page, its initializer and its stylesheet are this package's ``static/`` files,
so no page needs an inline script (the CSP in ``middleware.py`` has ``script-src 'self'``).
"""

from __future__ import annotations

import functools
import importlib.util
from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from services.core.http.errors import not_found
from services.core.http.openapi import Reply, operation

STATIC = Path(__file__).with_name("static")


@functools.cache
def swagger_ui_files() -> Path:
    """Swagger UI's ``static/`` folder, located without importing the package's Python code."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: /docs has no Swagger UI to serve")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


# /docs/{asset}: exactly these files, nothing else of either folder
ASSETS: dict[str, tuple[bool, str]] = {  # name -> (from Swagger UI?, media type)
    "swagger-ui.css": (True, "text/css"),
    "swagger-ui-bundle.js": (True, "text/javascript"),
    "favicon-32x32.png": (True, "image/png"),
    "docs.css": (False, "text/css"),
    "swagger-initializer.js": (False, "text/javascript"),
}


@operation(
    "Interactive API docs (Swagger UI for /openapi.json)",
    {200: Reply("HTML", media_type="text/html", schema={"type": "string"})},
    tag="docs",
)
async def docs_page(request: Request) -> Response:
    return FileResponse(STATIC / "docs.html", media_type="text/html")


async def docs_asset(request: Request) -> Response:
    """A file the docs page loads; left out of the OpenAPI document (``include_in_schema``)."""
    name = request.path_params["asset"]
    found = ASSETS.get(name)
    if found is None:
        raise not_found("file")
    from_swagger_ui, media_type = found
    folder = swagger_ui_files() if from_swagger_ui else STATIC
    return FileResponse(folder / name, media_type=media_type)


@operation(
    "The event contract: the AsyncAPI 3.0 document of the Kafka topics (taps, consumers)",
    {200: Reply("the document", media_type="application/yaml", schema={"type": "object"})},
    tag="docs",
)
async def asyncapi_yaml(request: Request) -> Response:
    document = resources.files("schemas").joinpath("asyncapi.yaml")  # package data of schemas
    return Response(document.read_bytes(), media_type="application/yaml")
