"""Request bodies: parsed from JSON and validated with pydantic, 422 naming the bad field.

A body must be declared ``application/json`` (415 otherwise): a cross-site HTML form can only
send ``text/plain``, urlencoded or multipart bodies without a CORS preflight, so this keeps a
JSON-shaped form post from another site away from every JSON route (login CSRF).
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request

from services.core.db.accounts import EMAIL_MAX, USERNAME_MAX
from services.core.http.errors import ApiError, error_reply

Body = TypeVar("Body", bound=BaseModel)
MAX_JSON_BODY = 64 * 1024
# what ``read_body`` may answer, for the operations of the routes that call it
BODY_ERRORS = {
    413: error_reply("the JSON body is larger than 64 KiB"),
    415: error_reply("a body that is not declared Content-Type: application/json"),
    422: error_reply("the body is not valid JSON or breaks the schema"),
}


SESSION = (
    '"cookie" (browsers): the refresh token comes as the HttpOnly vidpipe_refresh cookie '
    "instead of in the JSON, and the answer carries the user"
)


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: str = Field(min_length=3, max_length=USERNAME_MAX, pattern=r"^[A-Za-z0-9_.-]+$")
    email: str = Field(min_length=3, max_length=EMAIL_MAX, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    password: str = Field(min_length=8, max_length=128)
    session: Literal["cookie"] | None = Field(
        default=None, description=SESSION + "; without it the answer is the new account"
    )
    invite: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="an invitation code from POST /admin/invites (needed when REGISTRATION "
        "is invite; ignored otherwise)",
    )


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=128)
    session: Literal["cookie"] | None = Field(default=None, description=SESSION)


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the JSON flow (CLI); without it the vidpipe_refresh cookie is used, and "
        "the request must carry X-Requested-With: vidpipe",
    )


class ReprocessBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    options: dict[str, Any] = Field(default_factory=dict)


MAX_BULK = 100


class BulkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["retry", "cancel", "delete"]
    job_ids: list[str] = Field(min_length=1, max_length=MAX_BULK, description="at most 100")


class RetryFailedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_ids: list[str] | None = Field(
        default=None,
        max_length=MAX_BULK,
        description="the failed jobs to retry (at most 100); omitted: every failed job",
    )


class InviteBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    expires_in: int = Field(
        default=7 * 86400,
        ge=60,
        le=30 * 86400,
        description="seconds the code stays valid (default 7 days, at most 30)",
    )


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "yes" is not a boolean

    role: Literal["admin", "user"] | None = None
    disabled: bool | None = None


def is_json(content_type: str) -> bool:
    """``application/json`` or an ``application/*+json`` type, any parameters."""
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_body(request: Request, model: type[Body]) -> Body:
    """Parse the request's JSON into ``model`` or raise 415 (not declared JSON) or 422 with a
    readable message. No body at all, undeclared, is the empty object (optional bodies)."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not is_json(content_type):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the body must be Content-Type: application/json, not {content_type[:80]}",
        )
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON_BODY:
            raise ApiError(413, "payload_too_large", "JSON body is larger than 64 KiB")
    if raw and content_type is None:
        raise ApiError(
            415, "unsupported_media_type", "the body must be Content-Type: application/json"
        )
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "invalid_json", "request body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(422, "invalid_input", f"{where}: {first['msg']}") from None
