"""``vidpipe submit FILE...``: tus uploads that resume on a re-run, then optionally follow."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from services.cli.client import tus
from services.cli.client.api import Api, ClientError
from services.cli.client.display import Display
from services.cli.client.follow import follow, settled_job
from services.cli.client.store import ResumeIndex, upload_key
from services.cli.client.wire import Status


def options_of(args: argparse.Namespace) -> dict[str, Any]:
    if args.preset is not None:
        return {"preset": args.preset}
    if args.options is None:
        return {}
    try:
        options = json.loads(args.options)
    except ValueError as exc:
        raise ClientError(f"--options: not JSON ({exc})", 2) from None
    if not isinstance(options, dict):
        raise ClientError("--options: must be a JSON object", 2)
    return options


def chunk_size() -> int:
    raw = os.environ.get("VIDPIPE_CHUNK_SIZE", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else tus.DEFAULT_CHUNK


def upload(api: Api, index: ResumeIndex, path: Path, options: str, display: Display) -> str:
    """Send one file (continuing a stored upload if the server still has it); the job's id."""
    key = upload_key(api.server, path, options)
    size = path.stat().st_size
    url = index.get(key)
    remote = tus.probe(api, url) if url is not None else None
    if remote is not None and remote.job_id is not None:
        display.note(f"{path.name}: already uploaded")
        return remote.job_id
    if url is None or remote is None:
        metadata = {"filename": path.name, "options": options}
        url, offset = tus.create(api, size, metadata), 0
        index.put(key, url)
    else:
        offset = remote.offset
        display.note(f"{path.name}: resuming at byte {offset} of {size}")
    sender = tus.TusUpload(api, url, path, chunk_size())
    try:
        job_id = sender.run(offset, display.upload_task(path.name, size, offset).update)
    except ClientError as exc:
        raise ClientError(f"{path.name}: {exc}", exc.exit_code) from None
    finally:
        display.note(f"{path.name}: sent {sender.sent} bytes")
    index.forget(key)
    return job_id


def run(api: Api, index: ResumeIndex, args: argparse.Namespace, display: Display) -> int:
    options = json.dumps(options_of(args), sort_keys=True)
    paths = [Path(p) for p in args.files]
    for path in paths:
        if not path.is_file():
            raise ClientError(f"{path}: no such file", 2)
    jobs: dict[str, str] = {}
    failed = 0
    for path in paths:
        try:
            job_id = upload(api, index, path, options, display)
        except ClientError as exc:
            if exc.exit_code != 1:
                raise
            display.error(f"{path}: {exc}", {"file": str(path), "error": str(exc)})
            failed += 1
            continue
        jobs[job_id] = path.name
        display.result(f"{path}: job {job_id}", {"file": str(path), "job_id": job_id})
    if args.follow and jobs:
        failed += report(api, jobs, display)
    return 1 if failed else 0


def report(api: Api, jobs: dict[str, str], display: Display) -> int:
    """Follow ``jobs`` to the end and print each one's outcome; how many did not complete."""
    tracker = follow(api, jobs, display)
    failed = 0
    for job_id, name in jobs.items():
        view = tracker.jobs[job_id]
        job = settled_job(api, job_id, view.status)
        if view.status != Status.COMPLETED:
            failed += 1
            reason = f": {job['error_message']}" if job.get("error_message") else ""
            display.error(f"{name}: {view.status}{reason}", job)
            continue
        if display.as_json:
            for output in job["outputs"]:
                output["url"] = api.absolute(output["url"])
            display.result("", job)
            continue
        display.result(f"{name}: completed")
        for output in job["outputs"]:
            display.result(f"  {output['name']}: {api.absolute(output['url'])}")
    return failed
