"""``POST /admin/invites``: a single-use invitation code (``REGISTRATION=invite``)."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.http.openapi import Reply, model_response, operation
from services.ingest.adapters.accounts import Accounts
from services.ingest.admin.routes import ADMIN_ONLY, BEARER, require_admin
from services.ingest.dependencies import endpoint
from services.ingest.http.bodies import BODY_ERRORS, InviteBody, read_body
from services.ingest.http.resources import Invite
from services.ingest.jobs.queries import iso


@operation(
    "Create a single-use invitation code for /auth/register (shown once)",
    {201: Reply("the code and when it expires", Invite), **BODY_ERRORS, **ADMIN_ONLY},
    body=InviteBody,
    body_required=False,
    security=BEARER,
)
@endpoint
async def create_invite(request: Request, accounts: Accounts) -> Response:
    principal = await require_admin(request)
    body = await read_body(request, InviteBody)
    code, expires = await accounts.create_invite(
        principal.user_id, timedelta(seconds=body.expires_in)
    )
    return model_response(
        Invite(code=code, expires_at=iso(expires) or ""),
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


routes = [Route("/admin/invites", create_invite, methods=["POST"])]
