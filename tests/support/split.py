"""Helpers for split-and-stitch tests: sources with a short GOP, transcoder processes with small
chunk settings, group membership, and the quality checks of issue 15 (frames, duration,
audio samples, A/V end, PSNR, HLS EXTINF)."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.core.runtime.settings import resolve_ffmpeg
from tests.support.media import make_video
from tests.support.transcoder import Watcher, transcoder_processes

SPLIT_ENV = {"CHUNK_DURATION": "2", "SPLIT_MIN_DURATION": "4", "WORKER_COUNT": "1"}
WORKER_FLAGS = ["--session-timeout-ms", "6000", "--retry-delay", "0.2", "--rebalance-grace", "2"]


def make_clip(path: Path, seconds: float, *, size: str = "320x240", gop: int = 25) -> Path:
    """``make_video`` as the split tests want it: 25 fps, a keyframe every ``gop`` frames, and
    48 kHz AAC (whole AAC frames of 1024 samples are what the stitched audio is checked by)."""
    return make_video(path, seconds=seconds, size=size, fps=25, gop=gop, sample_rate=48_000)


@contextlib.contextmanager
def transcoders(
    test_env: dict[str, str], count: int, **extra: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` real ``vidpipe transcoder`` processes with small chunk settings."""
    with transcoder_processes(test_env, count, WORKER_FLAGS, **{**SPLIT_ENV, **extra}) as procs:
        yield procs


async def group_members(bootstrap: str, group: str) -> int:
    """Members of a consumer group that are in a stable generation (0 while rebalancing)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
    except KafkaError:  # no coordinator yet: the group is still forming
        return 0
    finally:
        await admin.close()
    for response in described:
        for entry in response.groups:
            _err, _gid, state, _ptype, _proto, members = entry[:6]
            if state == "Stable":
                return len(members)
    return 0


def chunk_rows(watcher: Watcher, job_id: str) -> list[dict[str, object]]:
    """The ``chunk`` history rows of the job's effective attempt: metadata + worker."""
    rows = []
    for envelope in watcher.of(job_id, "video.job.stage_completed", topic="jobs"):
        event = envelope.event
        if getattr(event, "operation", "") == "chunk":
            rows.append(
                {
                    **event.metadata,  # type: ignore[attr-defined]
                    "worker": event.worker_id,  # type: ignore[attr-defined]
                    "status": event.status,  # type: ignore[attr-defined]
                    "attempt": event.attempt,  # type: ignore[attr-defined]
                }
            )
    return rows


def stage(watcher: Watcher, job_id: str, operation: str) -> list[dict[str, object]]:
    """Metadata of the job's ``stage_completed`` rows for ``operation``."""
    return [
        e.event.metadata  # type: ignore[attr-defined]
        for e in watcher.of(job_id, "video.job.stage_completed", topic="jobs")
        if getattr(e.event, "operation", "") == operation
    ]


@dataclass(frozen=True)
class MediaStats:
    frames: int
    video_end_s: float
    frame_s: float
    samples: int
    audio_end_s: float
    size: int


def media_stats(path: str) -> MediaStats:
    """Frames and where the video ends; decoded audio samples and where the audio ends."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        base = float(stream.time_base)  # type: ignore[arg-type]
        end = max((p.pts + (p.duration or 0)) * base for p in packets)  # type: ignore[operator]
        frame_s = float(1 / stream.average_rate) if stream.average_rate else 0.0
    samples, audio_end = 0, 0.0
    with av.open(path) as container:
        if container.streams.audio:
            for frame in container.decode(audio=0):
                samples += frame.samples
                audio_end = float(frame.pts * frame.time_base) + frame.samples / frame.sample_rate  # type: ignore[operator]
    return MediaStats(len(packets), end, frame_s, samples, audio_end, Path(path).stat().st_size)


def psnr(encoded: str, reference: str) -> float:
    """Average PSNR (all planes) of ``encoded`` against ``reference``, by ffmpeg's filter."""
    run = subprocess.run(
        [
            resolve_ffmpeg(None), "-nostdin", "-hide_banner", "-i", encoded, "-i", reference,
            "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    found = re.search(r"average:([0-9.]+|inf)", run.stderr)
    assert found, run.stderr[-500:]
    return float(found.group(1))


def extinf(playlist: Path) -> list[str]:
    """The ``#EXTINF`` lines of a media playlist, in order."""
    return [line for line in playlist.read_text().splitlines() if line.startswith("#EXTINF")]
