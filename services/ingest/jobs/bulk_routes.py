"""``POST /jobs/bulk``: retry, cancel or delete several jobs; one result per job.

Each job is checked as its own command would be (owner or admin, legal in its state); the
events of the accepted ones are published together, then read-your-writes waits once.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.events import Event
from services.core.access.tokens import Principal
from services.core.http.errors import ApiError
from services.core.http.openapi import Reply, model_response, operation
from services.ingest.dependencies import AUTHENTICATED, Dependencies, authenticate, dependencies
from services.ingest.http.bodies import BODY_ERRORS, BulkBody, read_body
from services.ingest.http.resources import BulkResult, BulkResults
from services.ingest.jobs.queries import owned_row
from services.ingest.jobs.routes import (
    BEARER,
    Build,
    cancel_events,
    checked_events,
    delete_events,
    delete_files,
    publish,
    retry_events,
)

BUILDS: dict[str, Build] = {
    "retry": retry_events,
    "cancel": cancel_events,
    "delete": delete_events,
}


async def run_bulk(
    request: Request,
    deps: Dependencies,
    principal: Principal,
    action: str,
    job_ids: Sequence[str],
    *,
    only_status: str | None = None,
) -> BulkResults:
    """Check each job, publish what is legal, and say per job what happened; with
    ``only_status``, a job in another status is refused."""
    build = BUILDS[action]
    results: list[BulkResult] = []
    events: list[Event] = []
    accepted: list[str] = []
    for raw in dict.fromkeys(job_ids):  # each job once, in the order sent
        try:
            row = await owned_row(deps, principal, raw)
            if only_status is not None and row.status != only_status:
                raise ApiError(409, "illegal_state", f"job is {row.status}, not {only_status}")
            events += await checked_events(request, deps, principal, row, build)
        except ApiError as refusal:
            results.append(
                BulkResult(job_id=raw, ok=False, error=refusal.message, code=refusal.code)
            )
            continue
        accepted.append(str(row.id))
        results.append(BulkResult(job_id=raw, ok=True, error=None, code=None))
    if events:
        await publish(deps, events)
    if action == "delete":
        for job_id in accepted:
            await delete_files(deps, job_id)
    return BulkResults(results=results)


@operation(
    "Retry, cancel or delete several jobs (owner or admin, per job)",
    {
        200: Reply("one result per job id, in the order sent", BulkResults),
        **BODY_ERRORS,
        **AUTHENTICATED,
    },
    body=BulkBody,
    security=BEARER,
)
async def bulk(request: Request) -> Response:
    principal = authenticate(request)
    deps = dependencies(request)
    body = await read_body(request, BulkBody)
    return model_response(await run_bulk(request, deps, principal, body.action, body.job_ids))


routes = [Route("/jobs/bulk", bulk, methods=["POST"])]
