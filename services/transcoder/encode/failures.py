"""What a failed ffmpeg run means, in words a user may read: a small table of failure classes.

Pure: no I/O. ffmpeg's stderr names server paths, addresses and library internals, so it
never reaches a job's ``error_message``: the runner notes which known signs its lines show
(:func:`signs_in`) and :func:`classify` turns the exit status and those signs into one
fixed :class:`Failure`. The raw text goes to the worker's log, with the job id.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass

from services.core.media.limits import OUT_OF_MEMORY_SIGNS

# Lines of ffmpeg and its libraries, by what they say went wrong (matched anywhere in a line).
_SIGNS: Mapping[str, tuple[str, ...]] = {
    # an allocation, a thread or its stack failed: the address-space limit
    "memory": OUT_OF_MEMORY_SIGNS,
    "signal": ("Immediate exit requested",),  # SIGXCPU caught while setting up
    "too_large": ("File too large",),  # EFBIG: RLIMIT_FSIZE, when SIGXFSZ is not fatal
    "unsupported": (
        "Decoder (codec",  # "... not found for input stream"
        "Unknown decoder",
        "Unsupported codec",
        "not currently supported",
        "is not implemented",
        "Function not implemented",
        "No decoder",
        "Unsupported pixel format",
    ),
    "corrupt": (
        "Invalid data found when processing input",
        "Decode error rate",
        "Error while decoding",
        "Decoding error",
        "corrupt",
        "Invalid NAL unit",
        "moov atom not found",
        "non-existing PPS",
        "End of file",
        "Truncated",
    ),
}
SIGNALLED_EXIT = 255  # ffmpeg's exit status after a signal it caught


@dataclass(frozen=True)
class Failure:
    """A failed run as a job's ``error_code``, a fixed ``message`` and whether to retry."""

    code: str
    message: str
    retryable: bool


@dataclass(frozen=True)
class Bounds:
    """The limits the run had, named in the messages (each with the variable that sets it)."""

    memory_bytes: int
    cpu_seconds: int
    wall_seconds: float | None = None
    file_bytes: int | None = None


LIMIT_CODES = frozenset({"resource_limit", "time_limit", "output_too_large"})
"""Failures the same source would hit again: a retry would not help."""


def signs_in(line: str) -> set[str]:
    """The known signs one line of stderr shows."""
    return {sign for sign, texts in _SIGNS.items() if any(text in line for text in texts)}


def classify(returncode: int, signs: set[str], bounds: Bounds, *, timed_out: bool) -> Failure:
    """The failure a run that exited with ``returncode`` (negative: a signal) stands for."""
    if timed_out:
        return Failure(
            "time_limit",
            f"encoding took longer than its time budget ({bounds.wall_seconds:.0f} s for this "
            "video, FFMPEG_TIME_FACTOR and FFMPEG_TIME_FLOOR)",
            retryable=False,
        )
    if returncode == -signal.SIGXFSZ or "too_large" in signs:
        mib = (bounds.file_bytes or 0) / 1024**2
        return Failure(
            "output_too_large",
            f"an output file grew past its size budget ({mib:.0f} MiB for this video, "
            "FFMPEG_MAX_OUTPUT)",
            retryable=False,
        )
    # ffmpeg catches SIGXCPU: before it has set up its outputs it says "Immediate exit
    # requested" (an error line); after, it stops quietly with status 255, which it uses for
    # nothing else; and the transcoder never sends a catchable signal.
    caught = "signal" in signs or (returncode == SIGNALLED_EXIT and "memory" not in signs)
    if returncode == -signal.SIGXCPU or caught:
        return Failure(
            "resource_limit",
            f"ffmpeg exceeded the CPU time limit ({bounds.cpu_seconds}s, FFMPEG_CPU_SECONDS)",
            retryable=False,
        )
    if "memory" in signs or returncode in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS):
        mib = bounds.memory_bytes // 1024**2
        return Failure(
            "resource_limit",
            f"ffmpeg exceeded the memory limit ({mib} MiB, FFMPEG_MEMORY)",
            retryable=False,
        )
    if returncode < 0:  # SIGKILL: a cancel, a shutdown, the OOM killer; not the input's fault
        return Failure(
            "ffmpeg_killed",
            f"the encoder was stopped by signal {-returncode}; the job will be retried",
            retryable=True,
        )
    if "unsupported" in signs:
        return Failure(
            "unsupported_codec",
            "the video uses a codec or a feature of one that the encoder does not support",
            retryable=False,
        )
    if "corrupt" in signs:
        return Failure(
            "corrupt_input",
            "the video is damaged or incomplete: too much of it could not be decoded",
            retryable=False,
        )
    return Failure("transcode_failed", f"the encoder failed (code {returncode})", False)
