"""A service's command imports that service only: a restarted notifier is up sooner."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from services.cli.main import SERVER_COMMANDS, build_parser, command_in
from services.cli.registry import SERVICES

PROBE = """
import json, sys
from services.cli.main import SERVICES, build_parser
build_parser(SERVICES, sys.argv[1]).parse_args(sys.argv[1:])
print(json.dumps(sorted(sys.modules)))
"""


def modules_after_parsing(*argv: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def test_the_notifier_command_imports_no_other_service_nor_alembic() -> None:
    loaded = modules_after_parsing("notifier")
    assert "services.notifier.main" in loaded
    others = ("services.ingest", "services.transcoder", "services.projector", "alembic")
    assert not [m for m in loaded if m.startswith(others)]
    assert "services.cli.client.cli" not in loaded


@pytest.mark.parametrize(
    ("argv", "command"),
    [(["notifier"], "notifier"), (["--help"], None), (["replay", "--job", "x"], "replay")],
)
def test_the_command_is_the_first_word_that_is_not_an_option(
    argv: list[str], command: str | None
) -> None:
    assert command_in(argv) == command


def test_every_command_still_parses_with_its_own_flags() -> None:
    replay = build_parser(SERVICES, "replay").parse_args(["replay", "--job", "j1"])
    assert replay.command == "replay"
    assert build_parser(SERVICES, "login").parse_args(["login", "--json"]).json is True
    projector = build_parser(SERVICES, "projector").parse_args(["projector", "rebuild", "--force"])
    assert projector.command == "projector"
    full = build_parser(SERVICES)  # --help: every command with its flags
    for name in ["up", "migrate", "web", *(s.name for s in SERVICES), "login", "jobs", "watch"]:
        assert full.parse_args([name]).command == name
    assert full.parse_args(["tap", "video.jobs"]).topic == "video.jobs"
    assert SERVER_COMMANDS >= {"replay", "user", "tap"}
