"""``vidpipe user create``: make accounts from the command line (the only way to get an admin)."""

from __future__ import annotations

import argparse
import getpass
import sys

from pydantic import ValidationError

from services.core.db.engine import create_engine
from services.core.runtime.settings import Settings
from services.core.stack.discovery import resolve
from services.ingest.accounts.passwords import hash_password, password_problem
from services.ingest.adapters.accounts import Accounts, NameTaken
from services.ingest.http.bodies import Registration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create an account")
    create.add_argument("username")
    create.add_argument("--email", required=True)
    create.add_argument("--admin", action="store_true", help="give the account the admin role")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
    try:
        body = Registration(username=args.username, email=args.email, password=password)
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"vidpipe user: {first['loc'][0]}: {first['msg']}", file=sys.stderr)
        return 2
    problem = password_problem(
        body.password, body.username, body.email, settings.password_min_length
    )
    if problem is not None:
        print(f"vidpipe user: {problem}", file=sys.stderr)
        return 2
    engine = create_engine(resolve(settings).database_url, pool_size=1)
    try:
        user = await Accounts(engine).create_user(
            body.username,
            body.email,
            await hash_password(body.password),
            "admin" if args.admin else "user",
        )
    except NameTaken as exc:
        print(f"vidpipe user: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"created {user.role} {user.username} ({user.id})")
    return 0
