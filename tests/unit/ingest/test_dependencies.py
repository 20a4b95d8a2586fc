"""``endpoint``: a handler receives the dependencies it names, checked when it is wrapped."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.core.http.openapi import Reply, operation, operation_of
from services.core.runtime.clock import Clock
from services.ingest.dependencies import Dependencies, endpoint


@dataclass(frozen=True)
class Pair:
    engine: AsyncEngine
    clock: Clock


@dataclass(frozen=True)
class Stray:
    engine: AsyncEngine
    colour: str


async def _uses(request: Request, engine: AsyncEngine, pair: Pair) -> Response:
    return JSONResponse({"engine": str(engine), "pair": [str(pair.engine), str(pair.clock)]})


async def _typo(request: Request, engin: AsyncEngine) -> Response:
    raise AssertionError


async def _wrong_type(request: Request, settings: AsyncEngine) -> Response:
    raise AssertionError


async def _stray(request: Request, stray: Stray) -> Response:
    raise AssertionError


async def _no_request(engine: AsyncEngine) -> Response:
    raise AssertionError


def _placeholders() -> Dependencies:
    """Every field a string naming it: enough to see which ones a handler got."""
    fields = dataclasses.fields(Dependencies)
    return Dependencies(**{f.name: f"<{f.name}>" for f in fields})


async def test_a_handler_gets_the_fields_it_names_and_dataclasses_made_of_them() -> None:
    app = Starlette(routes=[Route("/", endpoint(_uses))])
    app.state.dependencies = _placeholders()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
        answer = await client.get("/")
    assert answer.json() == {"engine": "<engine>", "pair": ["<engine>", "<clock>"]}


@pytest.mark.parametrize(
    ("handler", "says"),
    [
        (_typo, "_typo(engin: "),
        (_wrong_type, "the dependency is a <class 'services.core.runtime.settings.Settings'>"),
        (_stray, "colour not dependencies"),
        (_no_request, "the first parameter must be the Request"),
    ],
)
def test_a_wrong_parameter_fails_when_wrapped(handler: object, says: str) -> None:
    with pytest.raises(TypeError, match=re.escape(says)):
        endpoint(handler)  # type: ignore[arg-type]


def _fresh() -> Callable[..., Awaitable[Response]]:
    async def uses(request: Request, engine: AsyncEngine) -> Response:
        raise AssertionError

    return uses


def test_the_operation_name_and_module_carry_over() -> None:
    """``@operation`` above or below ``@endpoint``: the document finds it, and the tag it
    derives from the module (``services.ingest.jobs.routes`` → ``jobs``) is the handler's."""
    op = operation("Uses", {200: Reply("ok")})
    above, below = op(endpoint(_fresh())), endpoint(op(_fresh()))
    assert operation_of(above) is operation_of(below) is not None
    for described in (above, below):
        assert (described.__module__, described.__name__) == (__name__, "uses")
