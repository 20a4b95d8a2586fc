"""Real media for tests and benchmarks, made by the bundled ffmpeg from its lavfi sources (the
testsrc2 pattern, a sine tone): the one place that knows those command lines.

``make_video``, ``make_still`` and ``make_audio`` write a file; the fixtures ``clips`` (made
once per session and shared), ``media_dir`` and ``video`` hand them to tests. ``bench/`` imports
this module too, so a benchmark's input is made the way the tests' are.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

from services.core.runtime.settings import resolve_ffmpeg

Codec = Literal["h264", "mpeg4", "vp8", "mjpeg", "rawvideo"]
Picture = Literal["pattern", "black"]
Timestamps = Literal["constant", "variable", "repeated"]

# lavfi's sources for each picture, up to their size and rate
PICTURES: dict[Picture, str] = {"pattern": "testsrc2=", "black": "color=c=black:"}

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 3 3]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)

# The file extension ``clips`` gives each codec (a container ffmpeg picks by name).
EXTENSIONS: dict[Codec, str] = {
    "h264": "mp4",
    "mpeg4": "avi",
    "vp8": "webm",
    "mjpeg": "mkv",
    "rawvideo": "mkv",
}


def ffmpeg(*args: str, timeout: float | None = 120) -> None:
    """Run the bundled ffmpeg quietly; raise on a non-zero exit (fails the test)."""
    subprocess.run(
        [resolve_ffmpeg(None), "-nostdin", "-v", "error", "-y", *args], check=True, timeout=timeout
    )


def make_video(
    path: Path,
    *,
    seconds: float = 1.0,
    size: str = "160x120",
    fps: float = 15,
    audio: bool = True,
    codec: Codec = "h264",
    pix_fmt: str | None = None,
    preset: str = "ultrafast",
    gop: int | None = None,
    bitrate: str | None = None,
    sample_rate: int = 44_100,
    timestamps: Timestamps = "constant",
    rotate: int = 0,
    frames: int | None = None,
    picture: Picture = "pattern",
    video_streams: int = 1,
    muxer: str | None = None,
    threads: int | None = None,
    timeout: float | None = 120,
) -> Path:
    """``seconds`` of a moving test pattern (testsrc2; ``picture="black"`` for plain black) at
    ``size`` and ``fps``, with a 440 Hz tone unless ``audio=False``; returns ``path``.

    - ``codec``: H.264 (``preset``, ``gop``: a keyframe every ``gop`` frames, ``bitrate``),
      MPEG-4 part 2, VP8 (with Opus audio), MJPEG or raw video; ``pix_fmt`` defaults to
      yuv420p for H.264 and raw video, the encoder's own choice otherwise.
    - ``timestamps``: ``variable`` drops frames irregularly (VFR), ``repeated`` gives frames in
      pairs sharing one timestamp.
    - ``rotate``: a display-rotation side datum (degrees), as phones write.
    - ``frames``: stop after that many video frames; ``video_streams``: the same picture mapped
      that many times (a "stream bomb"); ``muxer``: force the container (``-f``);
      ``threads``: the encoder's threads (a huge frame with few threads keeps memory down).
    """
    target = path.with_name(f"{path.stem}.unrotated{path.suffix}") if rotate else path
    source = f"{PICTURES[picture]}size={size}:rate={fps}"
    args = ["-f", "lavfi", "-i", source if frames else f"{source}:duration={seconds}"]
    if audio:
        tone = f"sine=frequency=440:sample_rate={sample_rate}:duration={seconds}"
        args += ["-f", "lavfi", "-i", tone]
    if timestamps == "variable":  # timestamps stay, frame spacing varies
        args += ["-vf", "select='not(mod(n\\,3))+lt(n\\,4)'", "-fps_mode", "vfr"]
    elif timestamps == "repeated":
        args += ["-vf", f"setpts='floor(N/2)*2/{fps}/TB'", "-fps_mode", "passthrough"]
    if video_streams > 1:
        args += ["-map", "0:v"] * video_streams + (["-map", "1:a"] if audio else [])
    if frames is not None:
        args += ["-frames:v", str(frames)]
    args += _video_codec(codec, pix_fmt, preset, gop, bitrate)
    if threads is not None:
        args += ["-threads", str(threads)]
    if audio:
        args += ["-c:a", "libopus" if codec == "vp8" else "aac", "-shortest"]
    else:
        args += ["-an"]
    if muxer is not None:
        args += ["-f", muxer]
    ffmpeg(*args, str(target), timeout=timeout)
    if rotate:
        ffmpeg("-display_rotation", str(rotate), "-i", str(target), "-c", "copy", str(path))
        target.unlink()
    return path


def _video_codec(
    codec: Codec, pix_fmt: str | None, preset: str, gop: int | None, bitrate: str | None
) -> list[str]:
    if codec == "h264":
        args = ["-c:v", "libx264", "-preset", preset, "-pix_fmt", pix_fmt or "yuv420p"]
        if gop is not None:
            args += ["-g", str(gop), "-keyint_min", str(gop)]
        return args + (["-b:v", bitrate] if bitrate else [])
    args = {
        "mpeg4": ["-c:v", "mpeg4", "-q:v", "5"],
        "vp8": ["-c:v", "libvpx", "-deadline", "realtime"],
        "mjpeg": ["-c:v", "mjpeg"],
        "rawvideo": ["-c:v", "rawvideo", "-pix_fmt", pix_fmt or "yuv420p"],
    }[codec]
    if pix_fmt and codec in ("mpeg4", "vp8", "mjpeg"):
        args += ["-pix_fmt", pix_fmt]
    return args


def make_deep_8k(path: Path) -> Path:
    """A ~115 KB file whose first frame needs ~200 MB to decode (8K, 4:4:4, 10-bit): over
    the probe's memory at ``PROBE_MEMORY=256MiB``, a fine video within the default."""
    return make_video(
        path,
        size="7680x4320",
        frames=1,
        fps=1,
        audio=False,
        picture="black",
        pix_fmt="yuv444p10le",
        threads=1,
    )


def make_still(path: Path, size: str = "64x64") -> Path:
    """One frame of the test pattern as an image (the format follows the name: PNG, JPEG)."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}", "-frames:v", "1", str(path))
    return path


def make_audio(path: Path, seconds: float = 1.0) -> Path:
    """A 440 Hz tone and nothing else (AAC for ``.m4a``)."""
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", str(path))
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``clips(**make_video options)``: each distinct clip made once per session and shared,
    so tests must not change it. Defaults as ``make_video`` but in yuv444p for H.264 (so every
    transcode converts the pixel format, as for most camera files)."""
    root = tmp_path_factory.mktemp("clips")
    made: dict[tuple[Any, ...], Path] = {}

    def make(**options: Any) -> Path:
        if options.get("codec", "h264") == "h264":
            options.setdefault("pix_fmt", "yuv444p")
        key = tuple(sorted(options.items()))
        if key not in made:
            path = root / f"clip{len(made)}.{EXTENSIONS[options.get('codec', 'h264')]}"
            made[key] = make_video(path, **options)
        return made[key]

    return make


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def video(media_dir: Path) -> bytes:
    """A one-second H.264/AAC MP4, as bytes."""
    return make_video(media_dir / "clip.mp4").read_bytes()
