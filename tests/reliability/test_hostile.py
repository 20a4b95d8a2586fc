"""Hostile requests: schemathesis against the published OpenAPI document, bad tokens on every
authenticated route, and another user's ids on every job route and SSE stream."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from schemas.envelope import new_envelope
from schemas.events import JobCompleted, JobOutput, JobProgress, JobStarted
from services.core.kafka.clients import KafkaEventPublisher
from tests.reliability.harness import Processes, fetch
from tests.support.eventually import eventually
from tests.support.ingest import Api
from tests.support.notifier import StartNotifier, bad_tokens, sse

EXAMPLES = 30  # per operation and phase: bounds the run to well under a minute on 2 cores


async def test_schemathesis_finds_no_5xx_and_no_schema_violation(
    ingest: Api, tmp_path: Path
) -> None:
    headers = await ingest.user()
    base = str(ingest.client.base_url)
    st = shutil.which("st", path=os.path.dirname(sys.executable)) or "st"
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        st,
        "run",
        f"{base}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "7",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "-H",
        f"Authorization: {headers['Authorization']}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 240)
    report = out.decode(errors="replace")
    summary = [line for line in report.splitlines() if "passed" in line or "failed" in line]
    print(f"\nschemathesis ({time.monotonic() - started:.0f}s): {summary[-3:]}")
    assert proc.returncode == 0, report[-6000:]


def _routes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


async def test_bad_tokens_are_never_accepted(
    ingest: Api,
    notifiers: StartNotifier,
) -> None:
    spec = (await ingest.client.get("/openapi.json")).json()
    user = (await ingest.user())["X-User-Id"]
    tried = 0
    for method, path in _routes(spec):
        if not spec["paths"][path][method.lower()].get("security", spec.get("security")):
            continue
        url = path.replace("{job_id}", str(uuid.uuid4())).replace("{id}", str(uuid.uuid4()))
        for name, token in bad_tokens(ingest.settings.secret(), user).items():
            response = await ingest.client.request(
                method, url, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 401, (method, path, name, response.text)
            tried += 1
    assert tried >= 6 * 8, "too few authenticated routes found in the OpenAPI document"
    notifier = await notifiers()
    async with httpx.AsyncClient(timeout=10) as http:
        for path in ("/events", f"/jobs/{uuid.uuid4()}/events"):
            for name, token in bad_tokens(ingest.settings.secret(), user).items():
                for how in (
                    {"headers": {"Authorization": f"Bearer {token}"}},
                    {"params": {"access_token": token}},
                ):
                    response = await http.get(notifier.url + path, **how)  # type: ignore[arg-type]
                    assert response.status_code == 401, (path, name)
                    tried += 1
    print(
        f"\nbad tokens: {tried} requests (6 kinds x every authenticated ingest route"
        " and both SSE routes, header and query), all 401"
    )


async def test_another_users_ids_leak_nothing(
    ingest: Api,
    procs: Processes,
    test_env: dict[str, str],
    notifiers: StartNotifier,
    clips: Callable[..., Path],
) -> None:
    procs.start("projector", ["projector"], test_env)
    owner, stranger = await ingest.user(), await ingest.user()
    clip = clips(seconds=0.5).read_bytes()
    upload = await ingest.upload(owner, ("secret.mp4", clip))
    assert upload.status_code == 202
    job = upload.json()["id"]
    mine = (await ingest.upload(stranger, ("own.mp4", clip))).json()["id"]
    db = test_env["DATABASE_URL"]
    await eventually(
        lambda: _in_read_model(db, job, mine), timeout=30, message="both jobs projected"
    )
    publisher = KafkaEventPublisher(
        test_env["KAFKA_BOOTSTRAP_SERVERS"], topic_prefix=test_env["KAFKA_TOPIC_PREFIX"]
    )
    await publisher.start()
    spec = (await ingest.client.get("/openapi.json")).json()
    notifier = await notifiers()
    checked = 0
    try:
        # every job route: the stranger's answer for the owner's id equals the one for no job
        for method, path in _routes(spec):
            if "{job_id}" not in path:
                continue
            body = {"options": {"preset": "h264-480p"}} if path.endswith("reprocess") else None
            answers = [
                await ingest.client.request(
                    method, path.replace("{job_id}", target), headers=stranger, json=body
                )
                for target in (job, str(uuid.uuid4()))
            ]
            # media URLs are authorised by their signature, not the caller: forged is 403
            expected = 403 if path.startswith("/media/") else 404
            assert answers[0].status_code == answers[1].status_code == expected, (method, path)
            assert answers[0].json() == answers[1].json(), (method, path)
            assert job not in answers[0].text
            checked += 1
        listing = await ingest.client.get(f"/jobs?user_id={owner['X-User-Id']}", headers=stranger)
        assert job not in listing.text
        token = stranger["Authorization"].removeprefix("Bearer ")
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=30.0)) as http:
            for url in (f"/jobs/{job}/events", f"/events?job_id={job}"):
                refused = await http.get(notifier.url + url, headers=stranger)
                assert refused.status_code == 404, url
                checked += 1
            refused = await http.get(
                f"{notifier.url}/events?user_id={owner['X-User-Id']}", headers=stranger
            )
            assert refused.status_code == 403
            # the stranger's own stream: the owner's events never show up in it
            async with sse(http, f"{notifier.url}/events", token=token) as stream:
                first = await stream.next()
                assert first.data["job_id"] == mine
                events = [
                    JobStarted(job_id=job, worker_id="w", attempt=1),
                    JobProgress(job_id=job, attempt=1, progress=50, stage="transcode"),
                    JobCompleted(
                        job_id=job,
                        worker_id="w",
                        attempt=1,
                        duration_ms=1,
                        outputs=[
                            JobOutput(
                                name="x",
                                key=f"outputs/{job}/x",
                                content_type="video/mp4",
                                size_bytes=1,
                            )
                        ],
                    ),
                    JobStarted(job_id=mine, worker_id="w", attempt=1),  # the marker
                ]
                for event in events:
                    await publisher.publish(new_envelope(event, source="/test"))
                marker = await stream.next(20)
                assert marker.data["job_id"] == mine, f"leaked: {marker}"
                checked += 1
    finally:
        await publisher.stop()
    print(f"\ncross-user: {checked} routes and streams answered as for a job that does not exist")


async def _in_read_model(db: str, *ids: str) -> bool:
    rows = await fetch(db, "SELECT id FROM jobs WHERE id::text = ANY($1)", list(ids))
    return len(rows) == len(ids)
