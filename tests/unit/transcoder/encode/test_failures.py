"""ffmpeg failures as fixed words (``services.transcoder.encode.failures``): pure. Whatever
ffmpeg printed (server paths, addresses, library internals) never reaches the message."""

from __future__ import annotations

import signal

import pytest

from services.transcoder.encode.failures import Bounds, Failure, classify, signs_in
from services.transcoder.encode.runner import FfmpegLimits

BOUNDS = Bounds(memory_bytes=256 * 1024**2, cpu_seconds=7, wall_seconds=310.0, file_bytes=2**26)
SCRATCH = "/var/lib/vidpipe/tmp/vidpipe-k2j4/source"

STDERR = {
    "corrupt": [
        "[h264 @ 0x5614] Invalid NAL unit size (-1203476249 > 4361).",
        "[vist#0:0/h264 @ 0x5614] [dec:h264 @ 0x5614] Decode error rate 0.97 exceeds maximum 0.66",
        f"Error opening input file {SCRATCH}.",
    ],
    "unsupported": [
        "[vist#0:0/hevc @ 0x55] Decoder (codec hevc) not found for input stream #0:0",
        f"Error opening input files: {SCRATCH}: Decoder not found",
    ],
    "too_large": [f"[out#0/mp4 @ 0x55] Error writing trailer of {SCRATCH}.mp4: File too large"],
    "unknown": [f"[out#0/mp4 @ 0x55] Could not write header for {SCRATCH}.mp4: Broken pipe"],
}


def run(returncode: int, lines: list[str], *, timed_out: bool = False) -> Failure:
    signs: set[str] = set()
    for line in lines:
        signs |= signs_in(line)
    return classify(returncode, signs, BOUNDS, timed_out=timed_out)


@pytest.mark.parametrize(
    ("returncode", "lines", "code", "message", "retryable"),
    [
        (
            69,
            STDERR["corrupt"],
            "corrupt_input",
            "the video is damaged or incomplete: too much of it could not be decoded",
            False,
        ),
        (
            1,
            STDERR["unsupported"],
            "unsupported_codec",
            "the video uses a codec or a feature of one that the encoder does not support",
            False,
        ),
        (
            1,
            STDERR["too_large"],
            "output_too_large",
            "an output file grew past its size budget (64 MiB for this video, FFMPEG_MAX_OUTPUT)",
            False,
        ),
        (
            -signal.SIGXFSZ,
            [],
            "output_too_large",
            "an output file grew past its size budget (64 MiB for this video, FFMPEG_MAX_OUTPUT)",
            False,
        ),
        (187, STDERR["unknown"], "transcode_failed", "the encoder failed (code 187)", False),
        (
            -signal.SIGKILL,
            [],
            "ffmpeg_killed",
            "the encoder was stopped by signal 9; the job will be retried",
            True,
        ),
        (
            255,
            ["Cannot allocate memory"],
            "resource_limit",
            "ffmpeg exceeded the memory limit (256 MiB, FFMPEG_MEMORY)",
            False,
        ),
        (
            255,
            [],
            "resource_limit",
            "ffmpeg exceeded the CPU time limit (7s, FFMPEG_CPU_SECONDS)",
            False,
        ),
    ],
)
def test_each_known_failure_class_has_fixed_words(
    returncode: int, lines: list[str], code: str, message: str, retryable: bool
) -> None:
    failure = run(returncode, lines)
    assert failure == Failure(code, message, retryable)
    assert SCRATCH not in failure.message and "@ 0x" not in failure.message


def test_past_the_wall_clock_budget_is_a_time_limit_whatever_the_exit() -> None:
    failure = run(-signal.SIGKILL, STDERR["unknown"], timed_out=True)
    assert failure.code == "time_limit" and not failure.retryable
    assert failure.message == (
        "encoding took longer than its time budget (310 s for this video, "
        "FFMPEG_TIME_FACTOR and FFMPEG_TIME_FLOOR)"
    )


def test_a_runs_budgets_grow_with_its_media_seconds() -> None:
    limits = FfmpegLimits(time_factor=4.0, time_floor_s=60.0, max_output_bytes=10**9)
    short, long, unknown = limits.bounds(10.0), limits.bounds(600.0), limits.bounds(None)
    assert (short.wall_seconds, long.wall_seconds, unknown.wall_seconds) == (100.0, 2460.0, 60.0)
    assert short.file_bytes == 64 * 1024**2 + 125_000_000
    assert long.file_bytes == 10**9  # the declared cap
    assert unknown.file_bytes == 64 * 1024**2


CPU = "ffmpeg exceeded the CPU time limit (7s, FFMPEG_CPU_SECONDS)"
MEMORY = "ffmpeg exceeded the memory limit (256 MiB, FFMPEG_MEMORY)"


def limit(returncode: int, signs: set[str]) -> str | None:
    failure = classify(returncode, signs, BOUNDS, timed_out=False)
    return failure.message if failure.code == "resource_limit" else None


def test_sigxcpu_caught_after_set_up_is_the_cpu_limit() -> None:
    # ffmpeg catches SIGXCPU and, once its outputs are open, exits 255 with no error line
    assert limit(255, set()) == CPU
    assert limit(-signal.SIGXCPU, set()) == CPU  # not caught
    assert limit(1, {"signal"}) == CPU  # caught during set-up: "Immediate exit"
    assert signs_in("Immediate exit requested") == {"signal"}


def test_memory_is_told_apart_from_a_signal() -> None:
    assert limit(255, {"memory"}) == MEMORY
    assert limit(-signal.SIGSEGV, set()) == MEMORY
    assert signs_in("[h264 @ 0x1] malloc of size 88473600 failed") == {"memory"}


def test_other_failures_are_no_limit() -> None:
    assert limit(1, set()) is None
    assert limit(-signal.SIGKILL, set()) is None  # ours: a cancel or a shutdown
