"""Which limit a failed ffmpeg run hit, from its exit status and what its stderr said."""

from __future__ import annotations

import signal

from services.transcoder.encode.runner import FfmpegLimits

LIMITS = FfmpegLimits(2, 256 * 1024**2, 7)
CPU = "ffmpeg exceeded the CPU time limit (7s, FFMPEG_CPU_SECONDS)"
MEMORY = "ffmpeg exceeded the memory limit (256 MiB, FFMPEG_MEMORY)"


def test_sigxcpu_caught_after_set_up_is_the_cpu_limit() -> None:
    # ffmpeg catches SIGXCPU and, once its outputs are open, exits 255 with no error line
    assert LIMITS.exceeded(255, set()) == CPU
    assert LIMITS.exceeded(-signal.SIGXCPU, set()) == CPU  # not caught
    assert LIMITS.exceeded(1, {"signal"}) == CPU  # caught during set-up: "Immediate exit"


def test_memory_is_told_apart_from_a_signal() -> None:
    assert LIMITS.exceeded(255, {"memory"}) == MEMORY
    assert LIMITS.exceeded(-signal.SIGSEGV, set()) == MEMORY


def test_other_failures_are_no_limit() -> None:
    assert LIMITS.exceeded(1, set()) is None
    assert LIMITS.exceeded(-signal.SIGKILL, set()) is None  # ours: a cancel or a shutdown
