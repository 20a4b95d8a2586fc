"""Small real media files for tests, made with the bundled ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

from services.core.runtime.settings import resolve_ffmpeg

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 3 3]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg quietly; fail the test on a non-zero exit."""
    subprocess.run(
        [resolve_ffmpeg(None), "-nostdin", "-v", "error", "-y", *args], check=True, timeout=120
    )


def make_video(path: Path, seconds: float = 1.0, size: str = "160x120", audio: bool = True) -> Path:
    """An H.264/AAC MP4 test pattern."""
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=15:duration={seconds}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    codecs += ["-c:a", "aac", "-shortest"] if audio else ["-an"]
    ffmpeg(*inputs, *codecs, str(path))
    return path


def make_png(path: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64:duration=0.1", "-frames:v", "1", str(path))
    return path


def make_audio(path: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(path))
    return path
