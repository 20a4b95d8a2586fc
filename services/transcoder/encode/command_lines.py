"""ffmpeg command lines for a job: pure functions of the options and the probed source.

Every command reads ``source`` and writes into ``out_dir`` (the job's scratch dir); the caller
adds the binary and ``-progress``. Every input is opened through
:func:`services.core.media.containers.ffmpeg_input` (the probed demuxer pinned, ``file`` the only
protocol), and decoders, filters and encoders get ``threads`` threads each.

Every output is capped at the declared media length with a margin (``-t``, and ``-frames:v``
from the output frame rate), whatever the source's timestamps say: a file whose header
understates its length cannot make ffmpeg encode hours (``services.core.media.limits``).

Sizes are computed here, not left to ffmpeg expressions, so they are known (and testable)
before ffmpeg runs: the requested box, capped at the source (never upscaling), even (4:2:0
chroma needs it), aspect ratio kept. ffmpeg applies the source's rotation itself, and the
probed width/height are already the displayed ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schemas.options import ProcessingOptions
from services.core.media.containers import ffmpeg_input
from services.core.media.limits import allowed_seconds, frame_cap
from services.core.media.probe import MediaInfo

PREVIEW_SECONDS = 3.0
PREVIEW_HEIGHT = 240
PREVIEW_FPS = 12.0
THUMBNAIL_HEIGHT = 360
HLS_SEGMENT_S = 4
# Peak bitrate per HLS rung (bits/s), so players can pick a rung from the master playlist.
_HLS_MAXRATE = {360: 900_000, 480: 1_500_000, 720: 3_000_000, 1080: 6_000_000}
_BASE = ("-nostdin", "-hide_banner", "-y", "-loglevel", "error")
DEFAULT_THREADS = 2


@dataclass(frozen=True)
class Output:
    """A file a command produces; ``name`` is also its key under ``outputs/{job_id}/{attempt}/``."""

    name: str
    content_type: str


@dataclass(frozen=True)
class Command:
    """Arguments after the ffmpeg binary, the files they make and the media seconds to encode."""

    args: tuple[str, ...]
    outputs: tuple[Output, ...]
    media_seconds: float | None


def even(value: float) -> int:
    """Round to the nearest integer, then down to an even number (at least 2)."""
    return max(2, round(value) // 2 * 2)


def fit(width: int, height: int, max_width: int | None, max_height: int | None) -> tuple[int, int]:
    """Largest even size within the box and the source, with the source's aspect ratio."""
    scale = 1.0
    if max_height is not None and height > max_height:
        scale = min(scale, max_height / height)
    if max_width is not None and width > max_width:
        scale = min(scale, max_width / width)
    return even(width * scale), even(height * scale)


def _start(threads: int) -> list[str]:
    return [*_BASE, "-filter_threads", str(threads), "-filter_complex_threads", str(threads)]


def _input(source: Path, info: MediaInfo, threads: int) -> list[str]:
    return ["-threads", str(threads), *ffmpeg_input(info.demuxer, str(source))]


def _trim(options: ProcessingOptions) -> list[str]:
    args = []
    if options.trim_start:
        args += ["-ss", f"{options.trim_start:.3f}"]
    if options.trim_end is not None:
        args += ["-to", f"{options.trim_end:.3f}"]
    return args


def media_seconds(options: ProcessingOptions, source: MediaInfo) -> float | None:
    """Seconds of media the main output will hold (None when the source length is unknown)."""
    end = source.duration_s
    if options.trim_end is not None:
        end = options.trim_end if end is None else min(end, options.trim_end)
    if end is None:
        return None
    return max(end - (options.trim_start or 0.0), 0.0)


def output_fps(options: ProcessingOptions, info: MediaInfo) -> float | None:
    """Frames per second of the video output: the requested rate, else the fastest the source
    may run at (a constant-rate output follows ffmpeg's guess)."""
    if options.fps is not None:
        return options.fps
    rates = [r for r in (info.fps, info.guessed_fps) if r]
    return max(rates) if rates else None


def caps(seconds: float | None, fps: float | None = None) -> list[str]:
    """Output options that stop an output at ``seconds`` of media (plus the margin), and at
    the frames that many seconds hold at ``fps``; none when the length is unknown."""
    if seconds is None:
        return []
    args = ["-t", f"{allowed_seconds(seconds):.3f}"]
    if fps:
        args += ["-frames:v", str(frame_cap(seconds, fps))]
    return args


def _video_filter(size: tuple[int, int], fps: float | None) -> str:
    steps = [f"scale={size[0]}:{size[1]}"]
    if fps is not None:
        steps.append(f"fps={fps:g}")
    return ",".join([*steps, "setsar=1", "format=yuv420p"])


def _video_codec(options: ProcessingOptions) -> list[str]:
    if options.video_codec == "vp9":
        # "good" + cpu-used 4 + row-mt: a service's speed/quality balance for libvpx.
        args = ["-c:v", "libvpx-vp9", "-deadline", "good", "-cpu-used", "4", "-row-mt", "1"]
        if options.crf is not None:
            return [*args, "-crf", str(options.crf), "-b:v", "0"]
        return [*args, "-b:v", str(options.video_bitrate)]
    args = ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high"]
    if options.crf is not None:
        return [*args, "-crf", str(options.crf)]
    return [*args, "-b:v", str(options.video_bitrate)]


def _audio(options: ProcessingOptions, source: MediaInfo) -> list[str]:
    if not source.has_audio:
        return ["-an"]
    codec = "libopus" if options.audio_codec == "opus" else "aac"
    return ["-c:a", codec, "-b:a", str(options.audio_bitrate), "-ac", "2"]


def main_command(
    source: Path,
    out_dir: Path,
    options: ProcessingOptions,
    info: MediaInfo,
    threads: int = DEFAULT_THREADS,
) -> Command:
    """The requested rendition(s): one file, an audio file, or an HLS ladder."""
    if options.format == "hls":
        return _hls(source, out_dir, options, info, threads)
    seconds = media_seconds(options, info)
    args = [*_start(threads), *_trim(options), *_input(source, info, threads)]
    if options.format == "m4a":
        name = "audio.m4a"
        args += ["-map", "0:a:0", "-vn", *_audio(options, info), "-movflags", "+faststart"]
        args += ["-threads", str(threads), *caps(seconds)]
        return Command((*args, str(out_dir / name)), (Output(name, "audio/mp4"),), seconds)
    size = fit(info.width, info.height, options.width, options.height)
    args += ["-map", "0:v:0", "-map", "0:a:0?", "-vf", _video_filter(size, options.fps)]
    args += [*_video_codec(options), *_audio(options, info), "-threads", str(threads)]
    args += caps(seconds, output_fps(options, info))
    if options.format == "mp4":
        name, content_type = "video.mp4", "video/mp4"
        args += ["-movflags", "+faststart"]
    else:
        name, content_type = "video.webm", "video/webm"
    return Command((*args, str(out_dir / name)), (Output(name, content_type),), seconds)


def hls_rungs(options: ProcessingOptions, info: MediaInfo) -> list[tuple[int, int]]:
    """Sizes of the ladder's rungs that do not upscale (the source size if none fits)."""
    cap = options.height
    heights = [h for h in options.ladder if h <= info.height and (cap is None or h <= cap)]
    if not heights:
        heights = [min(info.height, cap or info.height)]
    return sorted({fit(info.width, info.height, options.width, h) for h in heights}, key=_h)


def _h(size: tuple[int, int]) -> int:
    return size[1]


def _hls(
    source: Path, out_dir: Path, options: ProcessingOptions, info: MediaInfo, threads: int
) -> Command:
    rungs = hls_rungs(options, info)
    labels = [f"{h}p" for _w, h in rungs]
    split = f"[0:v]split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs)))
    graph = [split] + [
        f"[s{i}]{_video_filter(size, options.fps)}[v{i}]" for i, size in enumerate(rungs)
    ]
    args = [*_start(threads), *_trim(options), *_input(source, info, threads)]
    args += ["-filter_complex", ";".join(graph)]
    stream_map = []
    for i, (_w, height) in enumerate(rungs):
        maxrate = _HLS_MAXRATE.get(height, 6_000_000)
        args += ["-map", f"[v{i}]", f"-maxrate:v:{i}", str(maxrate)]
        args += [f"-bufsize:v:{i}", str(maxrate * 2)]
        entry = f"v:{i}"
        if info.has_audio:
            args += ["-map", "0:a:0"]
            entry += f",a:{i}"
        stream_map.append(f"{entry},name:{labels[i]}")
    args += [*_video_codec(options), *_audio(options, info), "-threads", str(threads)]
    # Keyframes every segment, whatever the frame rate (VFR sources included).
    args += ["-force_key_frames", f"expr:gte(t,n_forced*{HLS_SEGMENT_S})", "-sc_threshold", "0"]
    args += ["-f", "hls", "-hls_time", str(HLS_SEGMENT_S), "-hls_playlist_type", "vod"]
    args += ["-hls_segment_type", "fmp4", "-hls_flags", "independent_segments"]
    args += ["-master_pl_name", "master.m3u8", "-var_stream_map", " ".join(stream_map)]
    args += caps(media_seconds(options, info), output_fps(options, info))
    hls_dir = out_dir / "hls"
    args += ["-hls_fmp4_init_filename", "init.mp4"]
    args += ["-hls_segment_filename", str(hls_dir / "%v" / "seg_%05d.m4s")]
    args.append(str(hls_dir / "%v" / "index.m3u8"))
    outputs = [Output("hls/master.m3u8", "application/vnd.apple.mpegurl")]
    for i, label in enumerate(labels):
        # the muxer numbers init files by variant, but only when there are several
        init = "init.mp4" if len(labels) == 1 else f"init_{i}.mp4"
        outputs.append(Output(f"hls/{label}/index.m3u8", "application/vnd.apple.mpegurl"))
        outputs.append(Output(f"hls/{label}/{init}", "video/mp4"))
    return Command(tuple(args), tuple(outputs), media_seconds(options, info))


def thumbnail_command(
    source: Path, out_dir: Path, info: MediaInfo, at_s: float, threads: int = DEFAULT_THREADS
) -> Command:
    """One JPEG frame at ``at_s`` seconds, at most ``THUMBNAIL_HEIGHT`` high."""
    size = fit(info.width, info.height, None, THUMBNAIL_HEIGHT)
    name = "thumbnail.jpg"
    args = [*_start(threads), "-ss", f"{at_s:.3f}", *_input(source, info, threads)]
    args += ["-map", "0:v:0", "-frames:v", "1", "-vf", f"scale={size[0]}:{size[1]}"]
    args += ["-q:v", "3", "-threads", str(threads), "-t", "1", str(out_dir / name)]
    return Command(tuple(args), (Output(name, "image/jpeg"),), None)


def thumbnail_time(info: MediaInfo) -> float:
    """A poster frame a little into the video (title cards and black frames come first)."""
    if not info.duration_s:
        return 0.0
    return round(min(info.duration_s * 0.1, 5.0), 3)


def preview_command(
    source: Path, out_dir: Path, info: MediaInfo, threads: int = DEFAULT_THREADS
) -> Command:
    """The first seconds, small, silent and cheap: a hover preview."""
    size = fit(info.width, info.height, None, PREVIEW_HEIGHT)
    name = "preview.mp4"
    args = [*_start(threads), "-t", f"{PREVIEW_SECONDS:g}", *_input(source, info, threads)]
    args += ["-map", "0:v:0", "-an", "-vf", _video_filter(size, PREVIEW_FPS), "-c:v", "libx264"]
    args += ["-preset", "ultrafast", "-crf", "30", "-movflags", "+faststart"]
    seconds = min(PREVIEW_SECONDS, info.duration_s or PREVIEW_SECONDS)
    args += ["-threads", str(threads), *caps(seconds, PREVIEW_FPS), str(out_dir / name)]
    return Command(tuple(args), (Output(name, "video/mp4"),), seconds)
