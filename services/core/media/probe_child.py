"""The probe's child process: ``python -m services.core.media.probe_child CPU_SECONDS``.

Reads one JSON request per line on stdin (``location``, ``demuxer``, ``limits``), runs
:func:`services.core.media.probe.probe` and writes one JSON answer per line: ``{"info": ...}``
or ``{"error": {"code", "message", "limit"}}``. Started and fed by ingest's ``ProbePool``
(``services/ingest/adapters/probe_pool.py``), under its memory limit; each request gets
``CPU_SECONDS`` more CPU time (SIGXCPU ends the child past it). A crash costs this process only.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from dataclasses import asdict
from typing import Any, BinaryIO

import av.logging

from services.core.media.limits import OUT_OF_MEMORY_SIGNS, MediaLimits
from services.core.media.probe import ProbeError, probe

OUT_OF_MEMORY = "out_of_memory"  # the answer's code when an allocation failed


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The JSON answer to one request."""
    limits = MediaLimits(**request["limits"])
    av.logging.set_level(av.logging.ERROR)  # FFmpeg's own words say why a decode failed
    try:
        with av.logging.Capture() as logs:
            info = probe(request["location"], request.get("demuxer"), limits)
    except ProbeError as exc:
        said = [exc.message.lower(), *(str(entry[2]).lower() for entry in logs)]
        # only a failed decode may be the memory's fault: a limit refused by the headers is not
        # (a pixel bomb's frame is refused by max_pixels, which FFmpeg logs the same way)
        failed = exc.code in ("undecodable", "not_media")
        if failed and any(s.lower() in line for s in OUT_OF_MEMORY_SIGNS for line in said):
            return {"error": {"code": OUT_OF_MEMORY, "message": exc.message, "limit": None}}
        return {"error": {"code": exc.code, "message": exc.message, "limit": exc.limit}}
    except MemoryError:
        return {"error": {"code": OUT_OF_MEMORY, "message": "out of memory", "limit": None}}
    finally:
        av.logging.set_level(None)
    return {"info": asdict(info)}


def serve(requests: BinaryIO, answers: BinaryIO, cpu_seconds: int) -> None:
    for line in requests:
        used = resource.getrusage(resource.RUSAGE_SELF)
        spent = int(used.ru_utime + used.ru_stime) + 1
        # a budget per request; the hard limit stays open so the next one can be granted
        resource.setrlimit(resource.RLIMIT_CPU, (spent + cpu_seconds, resource.RLIM_INFINITY))
        answers.write(json.dumps(answer(json.loads(line))).encode() + b"\n")
        answers.flush()


def main() -> None:
    # the protocol keeps fd 1 to itself: a library printing to stdout goes to stderr instead
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, answers, int(sys.argv[1]))


if __name__ == "__main__":
    main()
