"""The client commands other than ``submit`` and ``download``: sessions and jobs."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from services.cli.client import api as http
from services.cli.client.api import Api, ClientError, check
from services.cli.client.display import Display
from services.cli.client.follow import fetch_job, follow
from services.cli.client.store import SessionStore
from services.cli.client.wire import Status

DEFAULT_SERVER = "http://localhost:8000"


def login(store: SessionStore, args: argparse.Namespace, display: Display) -> int:
    previous = store.load()
    server = (args.server or (previous.server if previous else DEFAULT_SERVER)).rstrip("/")
    username = args.username or input("username: ")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
    session = http.login(server, username, password)
    store.save(session)
    display.result(f"logged in to {server} as {username}", {"server": server, "user": username})
    return 0


def logout(store: SessionStore, display: Display) -> int:
    session = store.load()
    if session is not None:
        try:
            with Api(store).open() as api:
                sent = {"refresh_token": session.refresh_token}
                api.client.post("/auth/logout", json=sent)
        except ClientError:
            pass  # the server is away; forgetting the tokens here is what matters
    store.clear()
    display.result("logged out", {"logged_out": True})
    return 0


def line(job: dict[str, Any]) -> str:
    """One job as a row: id, status, progress, file name."""
    return f"{job['id']}  {job['status']:<10} {job['progress']:>3}%  {job['original_filename']}"


def jobs(api: Api, args: argparse.Namespace, display: Display) -> int:
    params: dict[str, str] = {"limit": "100"}
    if args.status:
        params["status"] = args.status
    if getattr(args, "all", False):
        params["all"] = "true"
    while True:
        page = check(api.request("GET", "/jobs", params=params)).json()
        for job in page["items"]:
            display.result(line(job), job)
        if not page.get("next_cursor"):
            return 0
        params["cursor"] = page["next_cursor"]


def job(api: Api, job_id: str, display: Display) -> int:
    found = fetch_job(api, job_id)
    if display.as_json:
        display.result("", found)
        return 0
    display.result(line(found))
    if found.get("error_message"):
        display.result(f"  error: {found['error_message']}")
    for output in found["outputs"]:
        display.result(f"  {output['name']}: {api.absolute(output['url'])}")
    return 0


def watch(api: Api, ids: list[str], display: Display) -> int:
    """Follow the given jobs (default: every unfinished one) to the end."""
    if not ids:
        for status in ("pending", "processing"):
            page = check(api.request("GET", "/jobs", params={"status": status})).json()
            ids += [j["id"] for j in page["items"]]
    if not ids:
        display.result("no unfinished jobs", {"jobs": []})
        return 0
    names = {job_id: fetch_job(api, job_id)["original_filename"] for job_id in ids}
    tracker = follow(api, names, display)
    for job_id, view in tracker.jobs.items():
        display.result(f"{job_id}  {view.status}", {"id": job_id, "status": view.status})
    return 0 if all(v.status == Status.COMPLETED for v in tracker.jobs.values()) else 1


def command(api: Api, action: str, job_id: str, display: Display) -> int:
    """``cancel``, ``retry``, ``reprocess`` (POST) and ``delete`` (DELETE)."""
    if action == "delete":
        response = api.request("DELETE", f"/jobs/{job_id}")
    else:
        response = api.request("POST", f"/jobs/{job_id}/{action}")
    accepted = check(response, 202).json()
    display.result(f"{job_id}: {action} accepted", accepted)
    return 0
