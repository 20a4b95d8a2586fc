"""Each preset and explicit options, through the real broker, storage and ffmpeg: the outputs
are probed for the promised codec, size and duration."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from schemas.events import JobCompleted
from services.core.media.probe import MediaInfo, probe
from services.core.storage import ObjectStore
from tests.support.transcoder import StartWorker, Submitter, Watcher, local


def outputs(done: Any) -> dict[str, str]:
    event = done.event
    assert isinstance(event, JobCompleted)
    return {o.name: o.key for o in event.outputs}


def check(info: MediaInfo, size: tuple[int, int], vcodec: str, acodec: str | None, secs: float):
    assert (info.width, info.height) == size
    assert (info.video_codec, info.audio_codec) == (vcodec, acodec)
    assert info.duration_s == pytest.approx(secs, abs=0.2)


async def test_every_preset(
    clips: Callable[..., Path],
    submit: Submitter,
    watcher: Watcher,
    start_worker: StartWorker,
    store: ObjectStore,
    tmp_path: Path,
) -> None:
    await start_worker(worker_count=2)
    hd, small, vga = clips(size="1280x720"), clips(size="320x240"), clips(size="640x480")
    jobs = {
        "h264-480p": await submit(hd, {"preset": "h264-480p"}),
        "h264-720p": await submit(hd, {"preset": "h264-720p"}),
        "h264-1080p": await submit(small, {"preset": "h264-1080p"}),
        "vp9-720p": await submit(small, {"preset": "vp9-720p"}),
        "hls": await submit(vga, {"preset": "hls"}),
        "hls-one-rung": await submit(small, {"preset": "hls"}),  # no init_N numbering
        "audio": await submit(small, {"preset": "audio"}),
        "explicit": await submit(
            small,
            {
                "format": "webm",
                "width": 200,
                "fps": 10,
                "trim_start": 0.25,
                "trim_end": 0.75,
                "video_bitrate": "300k",
                "audio_bitrate": "64k",
            },
        ),
    }
    done = {name: await watcher.wait_type(job, "completed", 90) for name, job in jobs.items()}
    files = {name: outputs(event) for name, event in done.items()}

    check(probe(local(store, files["h264-480p"]["video.mp4"])), (852, 480), "h264", "aac", 1.0)
    check(probe(local(store, files["h264-720p"]["video.mp4"])), (1280, 720), "h264", "aac", 1.0)
    # never upscaled: the 1080p preset on a 240p source stays 240p
    check(probe(local(store, files["h264-1080p"]["video.mp4"])), (320, 240), "h264", "aac", 1.0)
    check(probe(local(store, files["vp9-720p"]["video.webm"])), (320, 240), "vp9", "opus", 1.0)
    explicit = probe(local(store, files["explicit"]["video.webm"]))
    check(explicit, (200, 150), "vp9", "opus", 0.5)
    assert explicit.fps == pytest.approx(10, abs=0.5)

    with av.open(local(store, files["audio"]["audio.m4a"])) as audio:
        assert not audio.streams.video and audio.streams.audio[0].codec_context.name == "aac"
        assert audio.duration / av.time_base == pytest.approx(1.0, abs=0.2)

    hls = files["hls"]
    assert next(iter(hls)) == "hls/master.m3u8"
    master = Path(local(store, hls["hls/master.m3u8"])).read_text()
    assert re.findall(r"RESOLUTION=(\d+x\d+)", master) == ["480x360", "640x480"]  # no 720p
    for rung in ("360p", "480p"):
        playlist = Path(local(store, hls[f"hls/{rung}/index.m3u8"])).read_text()
        assert '#EXT-X-MAP:URI="init_' in playlist and ".m4s" in playlist
    # a playlist is not an accepted upload: probe the rung's init + segments as one fMP4
    rung = Path(local(store, hls["hls/480p/index.m3u8"])).parent
    parts = [*sorted(rung.glob("init_*.mp4")), *sorted(rung.glob("seg_*.m4s"))]
    (tmp_path / "480p.mp4").write_bytes(b"".join(p.read_bytes() for p in parts))
    variant = probe(str(tmp_path / "480p.mp4"))
    check(variant, (640, 480), "h264", "aac", 1.0)
    one = files["hls-one-rung"]
    assert set(one) >= {"hls/master.m3u8", "hls/240p/index.m3u8", "hls/240p/init.mp4"}
    assert '#EXT-X-MAP:URI="init.mp4"' in Path(local(store, one["hls/240p/index.m3u8"])).read_text()

    for name, event in done.items():
        thumb = probe_image(local(store, files[name]["thumbnail.jpg"]))
        assert thumb[1] <= 360
        preview = probe(local(store, files[name]["preview.mp4"]))
        assert preview.height <= 240 and preview.audio_codec is None
        assert event.correlation_id == f"corr-{jobs[name]}"


def probe_image(path: str) -> tuple[int, int]:
    with av.open(path) as image:
        frame = next(image.decode(video=0))
        return frame.width, frame.height
