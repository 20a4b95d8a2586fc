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
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

# the repo root, for tests.support.media (imported where the presets are measured)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# -- measured on one 2-core machine (the project's CI box), each with its source ---------------

MEASURED = {
    # docs/measurements/ingest.md: python bench/upload.py (1 GB through POST /upload, local store)
    "ingest_mb_s": 141.0,
    # docs/measurements/projector.md: python bench/projector.py, lowest of nine one-process runs
    # (17,600-21,800 events/s); two processes 23,800-29,700 (the lowest: 23,800)
    "projector_events_s": 17_600.0,
    "projector_events_s_2": 23_800.0,
    # docs/measurements/notifier.md: python bench/sse_fanout.py --connections 1000 10000: 10,000
    # streams held by one notifier (p99 87-295 ms, 243 MiB); the bench's limit, not the notifier's
    "notifier_streams": 10_000.0,
    # docs/measurements/capacity.md:
    # python bench/sse_fanout.py --connections 100 --rate 800 --duration 10: events per second
    # one notifier read from the log and delivered, all of them, p99 145 ms
    # (at --rate 1500 all arrived, but p50 1.2 s: it fell behind; load average 13 both times)
    "notifier_events_s": 800.0,
    # docs/measurements/transcoder.md: python bench/transcode_overhead.py, pipeline / bare ffmpeg
    "pipeline_overhead": 1.041,
}

# Seconds of video one CPU second of ffmpeg transcodes, by preset (the transcoder's own command,
# FFMPEG_THREADS=2, a 1920x1080 30 fps 8 Mbit/s testsrc2 source of 6 s), measured as ffmpeg's
# CPU time so that other tenants of the machine do not change it; the lower of two runs:
# python bench/capacity.py --measure-presets --seconds 6 (docs/measurements/capacity.md)
MEDIA_S_PER_CPU_S = {
    "h264-480p": 2.369,
    "h264-720p": 1.669,
    "h264-1080p": 1.054,
    "vp9-720p": 0.470,
    "hls": 0.965,
    "audio": 23.309,
}

LIFECYCLE_EVENTS_PER_JOB = 12  # submitted, started, 9 stage_completed (stages.py), completed
PROGRESS_TICKS_PER_JOB = (
    100  # at most one per whole percent (services/transcoder/attempt/progress.py)
)
EVENTS_PER_JOB = LIFECYCLE_EVENTS_PER_JOB + PROGRESS_TICKS_PER_JOB
WORKER_COUNT = 2  # job slots per transcoder process (infra/k8s/base/transcoder.yaml)
CORES_PER_SLOT = 2  # FFMPEG_THREADS=2; the pod's CPU limit is 4 for its 2 slots


@dataclass(frozen=True)
class Workload:
    """What users send: assumptions, not measurements (flags of this script)."""

    video_s: float = 120.0  # mean duration of an upload
    mbit_s: float = 8.0  # mean bitrate of an upload (phone video, 1080p)
    preset: str = "h264-720p"
    peak: float = 3.0  # peak hour / mean hour
    stream_minutes: float = 10.0  # SSE stream time per upload (the uploader follows the job)
    content_cost: float = 2.0  # real footage / testsrc2, CPU per media second (an assumption)

    @property
    def upload_mb(self) -> float:
        return self.video_s * self.mbit_s / 8

    @property
    def job_s(self) -> float:
        """Wall time of one job in a slot of ``CORES_PER_SLOT`` cores, pipeline included."""
        cpu_s = self.video_s / MEDIA_S_PER_CPU_S[self.preset] * self.content_cost
        return cpu_s / CORES_PER_SLOT * MEASURED["pipeline_overhead"]


@dataclass(frozen=True)
class Deployment:
    workers: int  # transcoder job slots in all (processes x WORKER_COUNT)
    partitions: int  # of video.jobs
    notifiers: int
    ingests: int = 2
    projectors: int = 1


COMPONENTS = ("ingest", "transcoders", "projector", "notifier streams", "notifier reads")


def capacities(d: Deployment, w: Workload) -> dict[str, float]:
    """Uploads per hour each component sustains (at the peak hour's rate)."""
    # A group member needs a partition to get work; each member runs WORKER_COUNT slots.
    slots = min(d.workers, d.partitions * WORKER_COUNT)
    projector = MEASURED["projector_events_s" if d.projectors == 1 else "projector_events_s_2"]
    return {
        "ingest": d.ingests * MEASURED["ingest_mb_s"] * 3600 / w.upload_mb,
        "transcoders": slots * 3600 / w.job_s,
        # one group: a third member adds nothing measured (PostgreSQL, one core each)
        "projector": projector * 3600 / EVENTS_PER_JOB,
        "notifier streams": d.notifiers * MEASURED["notifier_streams"] * 60 / w.stream_minutes,
        # every notifier reads every event: more notifiers do not raise this one
        "notifier reads": MEASURED["notifier_events_s"] * 3600 / EVENTS_PER_JOB,
    }


def sustained(d: Deployment, w: Workload) -> tuple[float, str, dict[str, float]]:
    """Mean uploads per hour (peak / ``w.peak``), the first component to saturate, all."""
    caps = capacities(d, w)
    first = min(caps, key=caps.__getitem__)
    return caps[first] / w.peak, first, caps


def grow(d: Deployment, first: str, shortfall: float) -> Deployment | None:
    """The next deployment: more of what saturated (None: nothing more helps); ``shortfall``
    is the factor still missing to the target."""
    if first == "transcoders":  # twice the slots (or what is missing), and their partitions
        more = min(2.0, shortfall)
        workers = -(-int(d.workers * more) // WORKER_COUNT) * WORKER_COUNT
        return replace(d, workers=workers, partitions=max(d.partitions, workers // WORKER_COUNT))
    if first == "ingest":
        return replace(d, ingests=d.ingests + 1)
    if first == "notifier streams":
        return replace(d, notifiers=d.notifiers + 1)
    if first == "projector" and d.projectors == 1:
        return replace(d, projectors=2)
    return None


def path_to(target_per_day: float, w: Workload) -> list[Deployment]:
    """From the Compose deployment, grow what saturates until ``target_per_day`` is met."""
    d: Deployment | None = Deployment(workers=4, partitions=12, notifiers=1)
    steps = []
    while d is not None and len(steps) < 40:
        steps.append(d)
        per_hour, first, _ = sustained(d, w)
        if per_hour * 24 >= target_per_day:
            break
        d = grow(d, first, target_per_day / (per_hour * 24) * 1.0001)
    return steps


def table(w: Workload, deployments: list[Deployment]) -> str:
    head = ["N slots", "cores", "P", "K", "ingests", *COMPONENTS, "uploads/h", "per day"]
    lines = ["| " + " | ".join([*head, "saturates first"]) + " |", "|" + "---|" * (len(head) + 1)]
    for d in deployments:
        per_hour, first, caps = sustained(d, w)
        cells = [f"{caps[c]:,.0f}" for c in COMPONENTS]
        row = [str(d.workers), str(d.workers * CORES_PER_SLOT), str(d.partitions)]
        row += [str(d.notifiers), str(d.ingests), *cells]
        row += [f"{per_hour:,.0f}", f"{per_hour * 24:,.0f}", first]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# -- measuring the real-time factors -----------------------------------------------------------


def measure_presets(seconds: float, size: str) -> dict[str, float]:
    """One job at a time per preset, the transcoder's own ffmpeg command, FFMPEG_THREADS=2."""
    from schemas.options import PRESETS, parse_options
    from services.core.media.probe import probe
    from services.core.runtime.settings import resolve_ffmpeg
    from services.transcoder.encode.command_lines import main_command
    from services.transcoder.encode.runner import run_ffmpeg
    from tests.support.media import make_video

    ffmpeg = resolve_ffmpeg(None)
    found = {}
    with tempfile.TemporaryDirectory(prefix="vpcap") as tmp:
        source = Path(tmp) / "source.mp4"
        make_video(
            source,
            seconds=seconds,
            size=size,
            fps=30,
            preset="veryfast",
            bitrate="8M",
            timeout=None,
        )
        info = probe(str(source))
        for name in PRESETS:
            out = Path(tmp) / name
            out.mkdir()
            command = main_command(source, out, parse_options(name), info, threads=2)
            cpu_before = _children_cpu_s()
            began = time.perf_counter()
            asyncio.run(run_ffmpeg(ffmpeg, command))
            wall = time.perf_counter() - began
            cpu = _children_cpu_s() - cpu_before
            # CPU seconds do not depend on what else the machine runs; wall seconds do.
            found[name] = seconds / cpu
            print(
                f"{name:<11} wall {wall:6.2f} s, ffmpeg CPU {cpu:6.2f} s for {seconds:g} s of "
                f"video: {seconds / cpu:.3f} media s per CPU s, wall real-time factor "
                f"{seconds / wall:.2f} (load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    return found


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure-presets", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0, help="--measure-presets clip")
    parser.add_argument("--size", default="1920x1080", help="--measure-presets source size")
    parser.add_argument("--workers", type=int, help="transcoder slots (processes x 2)")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--notifiers", type=int, default=2)
    parser.add_argument("--ingests", type=int, default=2)
    parser.add_argument("--projectors", type=int, default=1)
    parser.add_argument("--video-seconds", type=float, default=Workload.video_s)
    parser.add_argument("--mbit-s", type=float, default=Workload.mbit_s)
    parser.add_argument("--preset", default=Workload.preset, choices=sorted(MEDIA_S_PER_CPU_S))
    parser.add_argument("--peak", type=float, default=Workload.peak)
    parser.add_argument("--stream-minutes", type=float, default=Workload.stream_minutes)
    parser.add_argument("--content-cost", type=float, default=Workload.content_cost)
    parser.add_argument("--target-per-day", type=float, default=100_000)
    args = parser.parse_args(argv)
    if args.measure_presets:
        measure_presets(args.seconds, args.size)
        return 0
    w = Workload(
        args.video_seconds,
        args.mbit_s,
        args.preset,
        args.peak,
        args.stream_minutes,
        args.content_cost,
    )
    print(
        f"workload: {w.video_s:g} s uploads at {w.mbit_s:g} Mbit/s ({w.upload_mb:.0f} MB), "
        f"preset {w.preset} ({w.job_s:.0f} s per job in a {CORES_PER_SLOT}-core slot), "
        f"peak hour {w.peak:g} x the mean, {w.stream_minutes:g} min of SSE per upload, "
        f"{EVENTS_PER_JOB} events per job; capacities in uploads per peak hour\n"
    )
    if args.workers:
        one = Deployment(
            args.workers, args.partitions, args.notifiers, args.ingests, args.projectors
        )
        print(table(w, [one]))
        return 0
    print(
        table(
            w,
            [
                Deployment(4, 12, 1),  # infra/docker-compose.yml: 2 transcoders x WORKER_COUNT 2
                Deployment(24, 12, 2),  # infra/k8s: KEDA at maxReplicaCount 12
                Deployment(48, 12, 2),  # more slots than 12 partitions can feed: the same
                Deployment(48, 24, 2),
            ],
        )
    )
    print(f"\nfrom Compose to {args.target_per_day:,.0f} uploads/day, growing what saturates:\n")
    print(table(w, path_to(args.target_per_day, w)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
