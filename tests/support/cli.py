"""The ``vidpipe`` command run as a user runs it: a subprocess with the test's environment."""

from __future__ import annotations

import os
import subprocess
import sys


def vidpipe(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``vidpipe *args`` with ``env`` over this process's environment (minus its endpoints)."""
    full_env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
