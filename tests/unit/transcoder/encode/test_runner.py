"""How the transcoder reads an ffmpeg run (``services.transcoder.encode.runner``): its progress
blocks, and which limit a failed run hit from its exit status and what its stderr said."""

from __future__ import annotations

import signal

from services.transcoder.encode.runner import FfmpegLimits, parse_block

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


def test_progress_blocks() -> None:
    tick = parse_block(
        {"out_time_us": "1500000", "fps": "31.5", "speed": "1.2x", "progress": "continue"}
    )
    assert (tick.out_time_s, tick.fps, tick.speed, tick.done) == (1.5, 31.5, 1.2, False)
    early = parse_block({"out_time_ms": "-23000", "speed": "N/A", "progress": "continue"})
    assert (early.out_time_s, early.speed) == (0.0, None)
    assert parse_block({"out_time_us": "N/A", "progress": "end"}).out_time_s is None
