"""Port reports between ``vidpipe up`` and its children."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.core.runtime.ports import format_report, parse_report, read_report, write_report


def test_a_report_round_trips() -> None:
    assert parse_report(format_report(123, 45678), 123) == 45678


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        '{"pid": 123}',
        '{"pid": 123, "port": "80"}',
        '{"pid": 123, "port": 0}',
        '{"pid": 123, "port": 70000}',
        '{"pid": 123, "port": true}',
        '{"pid": 999, "port": 8080}',
    ],
)
def test_bad_or_foreign_reports_are_ignored(text: str) -> None:
    assert parse_report(text, 123) is None


def test_written_reports_are_read_back_for_this_pid_only(tmp_path: Path) -> None:
    path = tmp_path / "run" / "projector.json"
    assert read_report(path, os.getpid()) is None
    write_report(path, 40001)
    write_report(path, 40002)  # a restarted child replaces its predecessor's report
    assert read_report(path, os.getpid()) == 40002
    assert read_report(path, os.getpid() + 1) is None
    assert [p.name for p in path.parent.iterdir()] == ["projector.json"], "no temporary left"
