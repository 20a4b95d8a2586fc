"""``vidpipe replay``: reprocess selected jobs by emitting ``reprocess_requested`` events.

Jobs are selected in the read model by id, status, creation time range or owner; only those
the state machine lets reprocess (completed, failed or cancelled, not deleted) get an event.
``--dry-run`` prints how many jobs would be touched and emits nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from schemas.envelope import new_envelope
from schemas.events import JobStatus, ReprocessRequested
from schemas.options import InvalidOptions, parse_options
from services.core.db.engine import plain_url
from services.core.domain.jobstate import ALLOWED, JobState, legal
from services.core.kafka.clients import KafkaEventPublisher
from services.core.runtime.settings import ConfigError, Settings
from services.core.stack.discovery import resolve

SOURCE = "/vidpipe/replay"
EXIT_REFUSED = 2  # the code every vidpipe command uses for input it cannot act on


@dataclass(frozen=True)
class Selection:
    """Which jobs to reprocess; every given criterion must match."""

    job_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    user_id: str | None = None
    everything: bool = False

    def is_empty(self) -> bool:
        return not (self.job_ids or self.statuses or self.since or self.until or self.user_id)

    def sql(self) -> tuple[str, list[Any]]:
        """The query selecting the jobs, with its parameters."""
        where, params = ["deleted_at IS NULL"], []
        for column, op, value in (
            ("id::text", "= ANY", list(self.job_ids) or None),
            ("status", "= ANY", list(self.statuses) or None),
            ("created_at", ">=", self.since),
            ("created_at", "<", self.until),
            ("user_id::text", "=", self.user_id),
        ):
            if value is not None:
                params.append(value)
                rhs = f"(${len(params)})" if op == "= ANY" else f"${len(params)}"
                where.append(f"{column} {op}{rhs}")
        query = "SELECT id::text AS id, status, processing_options, attempts FROM jobs WHERE "
        return query + " AND ".join(where) + " ORDER BY created_at", params


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. 2025-01-01T00:00Z")
    return moment


def _options(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--options must be a JSON object")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``vidpipe replay``."""
    parser.add_argument("--job", dest="job_ids", action="append", default=[], metavar="ID")
    parser.add_argument(
        "--status",
        dest="statuses",
        action="append",
        default=[],
        choices=[s.value for s in JobStatus if ReprocessRequested.type in ALLOWED[s]],
    )
    parser.add_argument("--since", type=_moment, help="created at or after (ISO 8601 with offset)")
    parser.add_argument("--until", type=_moment, help="created before (ISO 8601 with offset)")
    parser.add_argument("--user", dest="user_id", help="only this user's jobs")
    parser.add_argument("--all", dest="everything", action="store_true", help="no filter at all")
    new = parser.add_mutually_exclusive_group()
    new.add_argument("--preset", help="new options: this preset")
    new.add_argument("--options", type=_options, help="new options as a JSON object")
    parser.add_argument("--reason", default="", help="shown in each job's history")
    parser.add_argument("--dry-run", action="store_true", help="count the jobs, emit nothing")


def _new_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--preset``/``--options`` checked as an upload's options are; ``None``: keep each job's."""
    raw = {"preset": args.preset} if args.preset else args.options
    if not raw:  # `--options {}` too: as before, each job keeps its own
        return None
    return parse_options(raw).to_event_dict()


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Select, report, and (unless dry run) emit one ``reprocess_requested`` per job."""
    try:
        # refused before anything is read or published: every job would fail as invalid_options
        new_options = _new_options(args)
    except InvalidOptions as exc:
        print(f"vidpipe replay: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    selection = Selection(
        tuple(args.job_ids),
        tuple(args.statuses),
        args.since,
        args.until,
        args.user_id,
        args.everything,
    )
    if selection.is_empty() and not selection.everything:
        raise ConfigError("replay", "give --job, --status, --since/--until or --user (or --all)")
    endpoints = resolve(settings)
    conn = await asyncpg.connect(plain_url(endpoints.database_url))
    try:
        query, params = selection.sql()
        rows = await conn.fetch(query, *params)
    finally:
        await conn.close()
    # the query skips deleted jobs, and reprocessing depends on nothing but the status
    eligible = [
        r for r in rows if legal(JobState(r["id"], JobStatus(r["status"])), ReprocessRequested.type)
    ]
    verb = "would reprocess" if args.dry_run else "reprocessing"
    print(
        f"replay: {verb} {len(eligible)} jobs "
        f"({len(rows) - len(eligible)} more selected, not completed/failed/cancelled)"
    )
    if args.dry_run or not eligible:
        return 0
    publisher = KafkaEventPublisher(
        endpoints.kafka_bootstrap_servers,
        topic_prefix=settings.topic_prefix,
        client_id="replay",
        security=endpoints.kafka_security,
    )
    await publisher.start()
    try:
        await publisher.publish_many(
            [
                new_envelope(
                    ReprocessRequested(
                        job_id=r["id"],
                        processing_options=new_options or json.loads(r["processing_options"]),
                        requested_by="replay",
                        reason=args.reason,
                        attempt=r["attempts"] + 1,  # attempts never restart at 1
                    ),
                    source=SOURCE,
                )
                for r in eligible
            ]
        )
    finally:
        await publisher.stop()
    print(f"replay: emitted {len(eligible)} reprocess_requested events")
    return 0
