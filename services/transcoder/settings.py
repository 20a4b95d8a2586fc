"""The transcoder's own settings, each declared once: a variable and a flag of ``vidpipe
transcoder`` (the flag wins). Its shared ones (``WORKER_COUNT``, ``FFMPEG_*``, split) are in
``services.core.runtime.variables``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.core.runtime.declare import Setting, integer, number, read_flags

SERVICE = "transcoder"

# Setting(variable, kind, default, description, service, attribute, flag=...)
# fmt: off
GRACE_PERIOD = Setting(
    "TRANSCODER_GRACE_PERIOD_S", number(0, 3600), "30",
    "seconds in-flight jobs get to finish on SIGTERM", SERVICE, "grace_period_s",
    flag="--grace-period",
)
REBALANCE_GRACE = Setting(
    "TRANSCODER_REBALANCE_GRACE_S", number(0, 600), "10",
    "seconds in-flight jobs get when their partition is revoked", SERVICE, "rebalance_grace_s",
    flag="--rebalance-grace",
)
STALL_TIMEOUT = Setting(
    "TRANSCODER_STALL_TIMEOUT_S", number(0.1, 86400), "300",
    "a job whose progress has not moved this long (seconds) fails, retryably",
    SERVICE, "stall_timeout_s", flag="--stall-timeout",
)
MAX_ATTEMPTS = Setting(
    "TRANSCODER_MAX_ATTEMPTS", integer(1, 100), "3",
    "attempts before a retryable failure becomes final", SERVICE, "max_attempts",
    flag="--max-attempts",
)
RETRY_DELAY = Setting(
    "TRANSCODER_RETRY_DELAY_S", number(0, 3600), "5",
    "first retry delay in seconds; doubles per attempt (capped at 300 s)",
    SERVICE, "retry_base_delay_s", flag="--retry-delay",
)
SESSION_TIMEOUT = Setting(
    "TRANSCODER_SESSION_TIMEOUT_MS", integer(1000, 3_600_000), "10000",
    "consumer-group session timeout (ms): a silent worker's partitions move after this long",
    SERVICE, "session_timeout_ms", flag="--session-timeout-ms",
)
# fmt: on
DECLARED: tuple[Setting[Any], ...] = (
    GRACE_PERIOD,
    REBALANCE_GRACE,
    STALL_TIMEOUT,
    MAX_ATTEMPTS,
    RETRY_DELAY,
    SESSION_TIMEOUT,
)


@dataclass(frozen=True)
class TranscoderConfig:
    """The values of ``DECLARED`` (one field per ``attribute``; defaults from there)."""

    grace_period_s: float = GRACE_PERIOD.default_value
    rebalance_grace_s: float = REBALANCE_GRACE.default_value
    stall_timeout_s: float = STALL_TIMEOUT.default_value
    max_attempts: int = MAX_ATTEMPTS.default_value
    retry_base_delay_s: float = RETRY_DELAY.default_value
    session_timeout_ms: int = SESSION_TIMEOUT.default_value


def config_from_args(
    args: argparse.Namespace, env: Mapping[str, str] | None = None
) -> TranscoderConfig:
    """The config: a flag given in ``args``, else its variable in ``env``, else the default."""
    return TranscoderConfig(**read_flags(DECLARED, args, os.environ if env is None else env))
