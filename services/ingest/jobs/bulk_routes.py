"""``POST /jobs/bulk``: retry, cancel or delete several jobs; one result per job.

Each job is checked as its own command would be (owner or admin, legal in its state); the
events of the accepted ones are published together, then read-your-writes waits once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.events import Event
from services.core.access.tokens import Principal
from services.core.http.errors import ApiError
from services.core.http.openapi import Reply, model_response, operation
from services.core.runtime.clock import Clock
from services.core.storage import ObjectStore
from services.ingest.adapters.job_log import JobLog
from services.ingest.dependencies import AUTHENTICATED, authenticate, endpoint
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
    principal: Principal,
    action: str,
    job_ids: Sequence[str],
    *,
    engine: AsyncEngine,
    clock: Clock,
    job_log: JobLog,
    store: ObjectStore,
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
            row = await owned_row(engine, principal, raw)
            if only_status is not None and row.status != only_status:
                raise ApiError(409, "illegal_state", f"job is {row.status}, not {only_status}")
            events += await checked_events(request, clock, principal, row, build)
        except ApiError as refusal:
            results.append(
                BulkResult(job_id=raw, ok=False, error=refusal.message, code=refusal.code)
            )
            continue
        accepted.append(str(row.id))
        results.append(BulkResult(job_id=raw, ok=True, error=None, code=None))
    if events:
        await publish(job_log, events)
    if action == "delete":
        for job_id in accepted:
            await delete_files(store, job_id)
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
@endpoint
async def bulk(
    request: Request, engine: AsyncEngine, clock: Clock, job_log: JobLog, store: ObjectStore
) -> Response:
    principal = authenticate(request)
    body = await read_body(request, BulkBody)
    results = await run_bulk(
        request,
        principal,
        body.action,
        body.job_ids,
        engine=engine,
        clock=clock,
        job_log=job_log,
        store=store,
    )
    return model_response(results)


routes = [Route("/jobs/bulk", bulk, methods=["POST"])]
