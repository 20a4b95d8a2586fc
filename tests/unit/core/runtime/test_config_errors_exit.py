"""A bad service setting (variable or flag) stops ``vidpipe <service>``, and ``vidpipe up``,
before they connect to or start anything: exit code 2 and one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["notifier"], {"NOTIFIER_QUEUE_SIZE": "0"}, "NOTIFIER_QUEUE_SIZE: 0 is outside"),
        (["transcoder", "--grace-period", "soon"], {}, "--grace-period: 'soon' is not a number"),
        (["transcoder"], {"TRANSCODER_MAX_ATTEMPTS": "x"}, "TRANSCODER_MAX_ATTEMPTS: 'x' is not"),
        (["up"], {"NOTIFIER_RETRY_MS": "-5"}, "NOTIFIER_RETRY_MS: -5 is outside"),
    ],
)
def test_a_bad_service_setting_exits_with_one_line(
    argv: list[str], env: dict[str, str], named: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", *argv],
        env={**os.environ, "VIDPIPE_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"vidpipe: configuration error: {named}" in result.stderr
