"""Capacity model of a vidpipe deployment, from measured single-node figures (docs/scaling.md).

    python bench/capacity.py                       # the table of docs/scaling.md
    python bench/capacity.py --workers 48 --partitions 24 --notifiers 4   # one deployment
    python bench/capacity.py --measure-presets     # re-measure the transcode real-time factors

The model: each component sustains so many uploads per hour; a deployment sustains the
smallest of them, and that component saturates first. Every figure it starts from is in
:data:`MEASURED` with the command that produced it; workload assumptions are flags.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

# -- measured on one 2-core machine (the project's CI box), each with its source ---------------

MEASURED = {
    # docs/ingest.md "Measured": python bench/upload.py (1 GB through POST /upload, local store)
    "ingest_mb_s": 141.0,
    # docs/projector.md "Throughput": python bench/projector.py, lowest of nine one-process runs
    # (17,600-21,800 events/s); two processes 23,800-29,700
    "projector_events_s": 17_600.0,
    # docs/notifier.md "Benchmark": python bench/sse_fanout.py --connections 1000 10000: 10,000
    # streams held by one notifier (p99 87-295 ms, 243 MiB); not its limit, the bench's
    "notifier_streams": 10_000.0,
    # docs/notifier.md: new streams per second one notifier accepted while connecting
    "notifier_connects_s": 80.0,
    # docs/transcoder.md "Benchmark": python bench/transcode_overhead.py, pipeline / bare ffmpeg
    "pipeline_overhead": 1.041,
}

# Media seconds transcoded per wall-clock second by one job (one ffmpeg, FFMPEG_THREADS=2), by
# preset, on a 1920x1080 30 fps source: python bench/capacity.py --measure-presets (docs/scaling.md)
REAL_TIME_FACTOR = {
    "h264-480p": 0.0,
    "h264-720p": 0.0,
    "h264-1080p": 0.0,
    "vp9-720p": 0.0,
    "hls": 0.0,
    "audio": 0.0,
}

LIFECYCLE_EVENTS_PER_JOB = 12  # submitted, started, 9 stage_completed (stages.py), completed
PROGRESS_TICKS_PER_JOB = 100  # at most one per whole percent (services/transcoder/progress.py)
WORKER_COUNT = 2  # job slots per transcoder process (infra/k8s/base/transcoder.yaml)


@dataclass(frozen=True)
class Workload:
    """What users send: assumptions, not measurements (flags of this script)."""

    video_s: float = 120.0  # mean duration of an upload
    mbit_s: float = 8.0  # mean bitrate of an upload (phone video, 1080p)
    preset: str = "h264-720p"
    peak: float = 3.0  # peak hour / mean hour
    stream_minutes: float = 10.0  # SSE stream time per upload (the uploader follows the job)

    @property
    def upload_mb(self) -> float:
        return self.video_s * self.mbit_s / 8


@dataclass(frozen=True)
class Deployment:
    workers: int  # transcoder job slots in all (processes x WORKER_COUNT)
    partitions: int  # of video.jobs
    notifiers: int
    ingests: int = 2
    projectors: int = 1


def capacities(d: Deployment, w: Workload) -> dict[str, float]:
    """Uploads per hour each component sustains (at the peak hour's rate)."""
    rtf = REAL_TIME_FACTOR[w.preset]
    # A group member owns at least one partition to get work; each runs WORKER_COUNT slots.
    slots = min(d.workers, d.partitions * WORKER_COUNT)
    job_s = w.video_s / rtf * MEASURED["pipeline_overhead"]
    events = LIFECYCLE_EVENTS_PER_JOB + PROGRESS_TICKS_PER_JOB
    projector = MEASURED["projector_events_s"] * min(d.projectors, 2) ** 0.5  # 2: +~35 %
    streams_per_upload_h = w.stream_minutes / 60  # concurrent streams per upload/hour
    return {
        "ingest": d.ingests * MEASURED["ingest_mb_s"] * 3600 / w.upload_mb,
        "transcoders": slots * 3600 / job_s,
        "projector": projector * 3600 / events,
        "notifiers": d.notifiers * MEASURED["notifier_streams"] / streams_per_upload_h,
    }


def sustained(d: Deployment, w: Workload) -> tuple[float, str, dict[str, float]]:
    """Mean uploads per hour (peak / ``w.peak``), the first component to saturate, all."""
    caps = capacities(d, w)
    first = min(caps, key=caps.__getitem__)
    return caps[first] / w.peak, first, caps


def path_to(target_per_day: float, w: Workload) -> list[tuple[Deployment, float, str]]:
    """Grow the deployment where it saturates until it sustains ``target_per_day``."""
    d = Deployment(workers=4, partitions=12, notifiers=1)
    steps = []
    for _ in range(40):
        per_hour, first, _ = sustained(d, w)
        steps.append((d, per_hour, first))
        if per_hour * 24 >= target_per_day:
            break
        if first == "transcoders":
            if d.workers >= d.partitions * WORKER_COUNT:
                d = replace(d, partitions=d.partitions * 2)
            else:
                d = replace(d, workers=min(d.workers * 2, d.partitions * WORKER_COUNT))
        elif first == "ingest":
            d = replace(d, ingests=d.ingests + 1)
        elif first == "notifiers":
            d = replace(d, notifiers=d.notifiers + 1)
        else:
            d = replace(d, projectors=d.projectors + 1)
    return steps


def table(w: Workload, deployments: list[Deployment]) -> str:
    head = "| N slots | P | K | ingest | transcoders | projector | notifiers | uploads/h (mean) | per day | saturates first |"
    lines = [head, "|" + "---|" * 10]
    for d in deployments:
        per_hour, first, caps = sustained(d, w)
        cells = [f"{caps[c]:,.0f}" for c in ("ingest", "transcoders", "projector", "notifiers")]
        lines.append(
            f"| {d.workers} | {d.partitions} | {d.notifiers} | {' | '.join(cells)} | "
            f"{per_hour:,.0f} | {per_hour * 24:,.0f} | {first} |"
        )
    return "\n".join(lines)


# -- measuring the real-time factors -----------------------------------------------------------


def measure_presets(seconds: float, size: str) -> dict[str, float]:
    """One job at a time per preset, the transcoder's own ffmpeg command, FFMPEG_THREADS=2."""
    from schemas.options import PRESETS, parse_options
    from services.core.config import resolve_ffmpeg
    from services.core.probe import probe
    from services.transcoder.commands import main_command
    from services.transcoder.ffmpeg import run_ffmpeg

    ffmpeg = resolve_ffmpeg(None)
    found = {}
    with tempfile.TemporaryDirectory(prefix="vpcap") as tmp:
        source = Path(tmp) / "source.mp4"
        lavfi = f"testsrc2=size={size}:rate=30:duration={seconds}"
        subprocess.run(
            [ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", lavfi, "-f", "lavfi",
             "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-preset",
             "veryfast", "-b:v", "8M", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
             str(source)],
            check=True,
        )
        info = probe(str(source))
        for name in PRESETS:
            out = Path(tmp) / name
            out.mkdir()
            command = main_command(source, out, parse_options(name), info, threads=2)
            began = time.perf_counter()
            asyncio.run(run_ffmpeg(ffmpeg, command))
            found[name] = seconds / (time.perf_counter() - began)
            print(f"{name:<11} {time.perf_counter() - began:6.2f} s for {seconds:g} s: "
                  f"real-time factor {found[name]:.2f}", flush=True)
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure-presets", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0, help="--measure-presets clip")
    parser.add_argument("--size", default="1920x1080", help="--measure-presets source size")
    parser.add_argument("--workers", type=int, help="transcoder slots (processes x 2)")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--notifiers", type=int, default=2)
    parser.add_argument("--ingests", type=int, default=2)
    parser.add_argument("--video-seconds", type=float, default=Workload.video_s)
    parser.add_argument("--mbit-s", type=float, default=Workload.mbit_s)
    parser.add_argument("--preset", default=Workload.preset, choices=sorted(REAL_TIME_FACTOR))
    parser.add_argument("--peak", type=float, default=Workload.peak)
    parser.add_argument("--target-per-day", type=float, default=100_000)
    args = parser.parse_args(argv)
    if args.measure_presets:
        measure_presets(args.seconds, args.size)
        return 0
    w = Workload(args.video_s if hasattr(args, "video_s") else args.video_seconds,
                 args.mbit_s, args.preset, args.peak)
    print(f"workload: {w.video_s:g} s uploads at {w.mbit_s:g} Mbit/s ({w.upload_mb:.0f} MB), "
          f"preset {w.preset} (real-time factor {REAL_TIME_FACTOR[w.preset]:.2f} per job), "
          f"peak hour = {w.peak:g} x mean, {w.stream_minutes:g} min of SSE per upload\n")
    if args.workers:
        d = Deployment(args.workers, args.partitions, args.notifiers, args.ingests)
        print(table(w, [d]))
        return 0
    fixed = [
        Deployment(4, 12, 1),  # infra/docker-compose.yml: 2 transcoders x WORKER_COUNT 2
        Deployment(24, 12, 2),  # infra/k8s: KEDA at maxReplicaCount 12
        Deployment(48, 12, 2),  # more slots than 12 partitions can feed
        Deployment(48, 24, 2),
    ]
    print(table(w, fixed))
    print(f"\non the way to {args.target_per_day:,.0f} uploads/day (grow what saturates):\n")
    print(table(w, [d for d, _, _ in path_to(args.target_per_day, w)]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
