"""The client commands' arguments and dispatch; every failure is one line, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from services.cli.client import commands
from services.cli.client.api import Api, ClientError
from services.cli.client.display import Display
from services.cli.client.download import download
from services.cli.client.store import ResumeIndex, SessionStore, config_dir
from services.cli.client.submit import run as submit
from services.cli.client.wire import Status

JOB_ACTIONS = ("cancel", "retry", "reprocess", "delete")
NAMES = ("login", "logout", "submit", "jobs", "job", "watch", "download", *JOB_ACTIONS)
STATUSES = tuple(Status)


def _output_flags(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars or lines")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="results as JSON lines")


def add_arguments(commands_: Any) -> None:
    """Add the client commands to the ``vidpipe`` sub-parsers."""
    login = commands_.add_parser("login", help="log in to a vidpipe server (client)")
    login.add_argument("--server", help=f"the server's URL (default {commands.DEFAULT_SERVER})")
    login.add_argument("--username", help="default: prompt")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _output_flags(login)
    _output_flags(commands_.add_parser("logout", help="forget the stored session (client)"))
    sub = commands_.add_parser("submit", help="upload videos (resumable) and create jobs (client)")
    sub.add_argument("files", nargs="+", metavar="FILE")
    how = sub.add_mutually_exclusive_group()
    how.add_argument("--preset", help="e.g. h264-720p")
    how.add_argument("--options", help="processing options as JSON, e.g. '{\"height\": 480}'")
    sub.add_argument("--follow", action="store_true", help="follow the jobs to the end")
    _output_flags(sub)
    listing = commands_.add_parser("jobs", help="list your jobs (client)")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--all", action="store_true", help="admins: every user's jobs")
    _output_flags(listing)
    one = commands_.add_parser("job", help="one job's details and output URLs (client)")
    one.add_argument("id")
    _output_flags(one)
    watch = commands_.add_parser("watch", help="follow jobs live (default: unfinished ones)")
    watch.add_argument("ids", nargs="*", metavar="ID")
    _output_flags(watch)
    get = commands_.add_parser("download", help="download an output, resuming a partial file")
    get.add_argument("id")
    get.add_argument("--output", dest="output_name", help="the output's name (default: main)")
    get.add_argument("-o", dest="path", help="file to write (default: the server's name)")
    _output_flags(get)
    for action in JOB_ACTIONS:
        act = commands_.add_parser(action, help=f"{action} a job (client)")
        act.add_argument("id")
        _output_flags(act)


def run(args: argparse.Namespace) -> int:
    """Run one client command; its exit code."""
    display = Display(no_progress=args.no_progress, as_json=getattr(args, "json", False))
    directory = config_dir(os.environ)
    store = SessionStore(directory)
    try:
        with display:
            if args.command == "login":
                return commands.login(store, args, display)
            if args.command == "logout":
                return commands.logout(store, display)
            with Api(store).open() as api:
                return _dispatch(api, ResumeIndex(directory), args, display)
    except ClientError as exc:
        print(f"vidpipe: {exc}", file=sys.stderr)
        return exc.exit_code
    except (EOFError, KeyboardInterrupt):
        print("vidpipe: interrupted", file=sys.stderr)
        return 130


def _dispatch(api: Api, index: ResumeIndex, args: argparse.Namespace, display: Display) -> int:
    if args.command == "submit":
        return submit(api, index, args, display)
    if args.command == "jobs":
        return commands.jobs(api, args, display)
    if args.command == "job":
        return commands.job(api, args.id, display)
    if args.command == "watch":
        return commands.watch(api, list(args.ids), display)
    if args.command == "download":
        out = download(api, args.id, args.output_name, args.path, display)
        display.result(str(out), {"path": str(out)})
        return 0
    return commands.command(api, args.command, args.id, display)
