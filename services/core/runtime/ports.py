"""Port reports: a child of ``vidpipe up`` binds its own port and tells ``up`` which it got.

``up`` never picks a port for a child: a port that is free when picked may be handed to any
outgoing connection before the child binds it. The child binds (port 0 or the configured one)
and writes ``{"pid": …, "port": …}`` to the file named by ``VIDPIPE_PORT_REPORT``, atomically
(write, then rename), so ``up`` never reads half a report. Parsing is pure; writing is one call.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

PORT_REPORT_ENV = "VIDPIPE_PORT_REPORT"


def format_report(pid: int, port: int) -> str:
    """The report's text."""
    return json.dumps({"pid": pid, "port": port})


def parse_report(text: str, pid: int) -> int | None:
    """The port reported by process ``pid``; None for a report of another pid or a bad one."""
    try:
        report = json.loads(text)
        reported_pid, port = report["pid"], report["port"]
    except (ValueError, TypeError, KeyError):
        return None
    if reported_pid != pid or type(port) is not int or not 0 < port < 65536:
        return None
    return port


def write_report(path: Path, port: int) -> None:
    """Report ``port`` as this process's, replacing any older report at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(format_report(os.getpid(), port))
    tmp.replace(path)


def ops_report(report: Path) -> Path:
    """Where a child with a public port (``web``) reports its ops port, beside ``report``."""
    return report.with_name(f"{report.stem}.ops{report.suffix}")


def read_report(path: Path, pid: int) -> int | None:
    """The port process ``pid`` reported at ``path``, or None while it has not."""
    try:
        return parse_report(path.read_text(), pid)
    except OSError:
        return None
