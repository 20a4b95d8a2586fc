"""The one JSON error envelope of the public HTTP services: ``{"error": {"code", "message"}}``.

Handlers raise ``ApiError``; ``EXCEPTION_HANDLERS`` renders it (and Starlette's own
``HTTPException``: 404, 405, ...) with a fitting status. Routes that answer outside
Starlette's exception middleware (the notifier's streams) call ``error_response`` themselves.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

from services.core.http.openapi import Reply

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine-readable ``code`` and a sentence for people."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str


class Error(BaseModel):
    """The body of every error answer."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


class ApiError(Exception):
    """Raised by handlers; rendered as the JSON error body."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = Error(error=ErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


EXCEPTION_HANDLERS: Mapping[type[Exception], ExceptionHandler] = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
}


def not_found(what: str = "job") -> ApiError:
    """The one answer for both "does not exist" and "not yours": existence never leaks."""
    return ApiError(404, "not_found", f"{what} not found")


def error_reply(description: str) -> Reply:
    """An error answer as the OpenAPI document lists it."""
    return Reply(description, Error)
