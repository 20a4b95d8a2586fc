"""Pipeline overhead: the same N inputs and preset through the transcoder (``submitted`` to
``completed``) and through bare ffmpeg, with the same concurrency, side by side in one run.

    python bench/transcode_overhead.py [--jobs 6] [--concurrency 2] [--seconds 10]
                                       [--size 1280x720] [--preset h264-720p]

Starts its own embedded broker and a local store in a temp dir; prints both wall times and
their ratio (target: <= 1.10). The bare run executes exactly the transcoder's main ffmpeg
command; the pipeline adds probing, the poster thumbnail, the preview, storing and events.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import TopicPartition

from schemas.envelope import decode, new_envelope
from schemas.events import JobSubmitted
from schemas.options import parse_options
from services.cli.embedded import EmbeddedBroker
from services.core.kafka.clients import KafkaEventPublisher, make_consumer, wait_for_broker
from services.core.media.probe import probe
from services.core.runtime.process import free_port
from services.core.runtime.settings import Settings, resolve_ffmpeg
from services.core.storage import keys, open_store
from services.transcoder.bootstrap import Transcoder, TranscoderConfig
from services.transcoder.encode.command_lines import main_command
from services.transcoder.encode.runner import run_ffmpeg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.support
from tests.support.media import make_video


def make_inputs(root: Path, count: int, seconds: float, size: str) -> list[Path]:
    first = make_video(root / "input0.mp4", seconds=seconds, size=size, fps=30, timeout=None)
    paths = [first]
    for i in range(1, count):  # distinct files, same content: no page-cache favouritism
        paths.append(root / f"input{i}.mp4")
        shutil.copy(first, paths[-1])
    return paths


async def bare(inputs: list[Path], preset: str, concurrency: int, out: Path) -> float:
    ffmpeg, options = resolve_ffmpeg(None), parse_options(preset)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, path: Path) -> None:
        async with gate:
            target = out / str(i)
            target.mkdir(parents=True)
            await run_ffmpeg(ffmpeg, main_command(path, target, options, probe(str(path))))

    began = time.perf_counter()
    await asyncio.gather(*(one(i, p) for i, p in enumerate(inputs)))
    return time.perf_counter() - began


async def pipeline(
    inputs: list[Path], preset: str, concurrency: int, root: Path, bootstrap: str
) -> float:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "VIDPIPE_DATA_DIR": str(root / "data"),
        "STORAGE_URL": (root / "storage").as_uri(),
        "KAFKA_TOPIC_PREFIX": "bench.",
        "WORKER_COUNT": str(concurrency),
    }
    settings = Settings.from_env(env)
    store = open_store(settings.storage_url)
    worker = Transcoder(settings, TranscoderConfig(session_timeout_ms=6000))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.serve(stop))
    while not (await worker.health())["partitions"]:  # joined the group: timing starts now
        await asyncio.sleep(0.05)
    watch = make_consumer(bootstrap, group_id=None)
    await watch.start()
    topic = settings.topic("video.jobs")
    parts = [TopicPartition(topic, p) for p in (watch.partitions_for_topic(topic) or range(12))]
    watch.assign(parts)
    await watch.seek_to_end(*parts)
    publisher = KafkaEventPublisher(bootstrap, topic_prefix=settings.topic_prefix)
    await publisher.start()
    jobs = {str(uuid.uuid4()): path for path in inputs}
    for job_id, path in jobs.items():  # sources are in storage before the clock starts
        await store.put_file(keys.source_key(job_id), path)
    began = time.perf_counter()
    await publisher.publish_many(
        [
            new_envelope(
                JobSubmitted(
                    job_id=j,
                    user_id="bench",
                    original_filename=p.name,
                    source_key=keys.source_key(j),
                    source_size=p.stat().st_size,
                    source_sha256="0" * 64,
                    processing_options={"preset": preset},
                ),
                source="/bench",
            )
            for j, p in jobs.items()
        ]
    )
    pending = set(jobs)
    while pending:
        for records in (await watch.getmany(timeout_ms=100)).values():
            for r in records:
                event = decode(r.key, r.value, r.headers).event
                if event.type in ("video.job.completed", "video.job.failed"):
                    assert event.type == "video.job.completed", event
                    pending.discard(event.job_id)
    elapsed = time.perf_counter() - began
    stop.set()
    await task
    await publisher.stop()
    await watch.stop()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--preset", default="h264-720p")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vpbench"))
    broker = EmbeddedBroker(free_port(), root / "kafka")
    try:
        bootstrap = broker.start()
        await wait_for_broker(bootstrap)
        inputs = make_inputs(root, args.jobs, args.seconds, args.size)
        print(
            f"{args.jobs} inputs of {args.seconds:g}s {args.size}, preset {args.preset}, "
            f"concurrency {args.concurrency}"
        )
        bare_s = await bare(inputs, args.preset, args.concurrency, root / "bare")
        pipe_s = await pipeline(inputs, args.preset, args.concurrency, root, bootstrap)
        print(f"bare ffmpeg : {bare_s:8.2f} s")
        print(
            f"pipeline    : {pipe_s:8.2f} s  (submitted -> completed, incl. thumbnail, preview, "
            f"storage, events)"
        )
        print(f"ratio       : {pipe_s / bare_s:8.3f}  (target <= 1.10)")
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
