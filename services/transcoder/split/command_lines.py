"""ffmpeg command lines of a split job: a chunk, the audio, the stitch. Pure, like
``commands.py``, whose building blocks they share so a split output is encoded with exactly
the settings of a single pass.

A chunk starts at an exact frame (input seek to half a frame before it, timestamps reset,
``-frames:v`` its count) and is re-encoded, never cut with ``-c copy``. The audio is encoded
once from the whole source. The stitch joins the chunks with the concat demuxer (``-c copy``)
and muxes the audio in; for HLS each rung is joined and segmented by the same HLS muxer
settings, on keyframes the chunks placed on the single pass's grid.
"""

from __future__ import annotations

from pathlib import Path

from schemas.options import ProcessingOptions
from services.core.media.probe import MediaInfo
from services.transcoder.encode.command_lines import (
    _HLS_MAXRATE,
    HLS_SEGMENT_S,
    Command,
    Output,
    _audio,
    _input,
    _start,
    _video_codec,
    _video_filter,
    caps,
    fit,
    hls_rungs,
)


def chunk_suffix(options: ProcessingOptions) -> str:
    """Container of chunk files: the concat demuxer reads them back without re-encoding."""
    return ".webm" if options.video_codec == "vp9" else ".mp4"


def chunk_names(options: ProcessingOptions, info: MediaInfo) -> list[str]:
    """The files one chunk makes: one per HLS rung, else one."""
    suffix = chunk_suffix(options)
    if options.format == "hls":
        return [f"{h}p{suffix}" for _w, h in hls_rungs(options, info)]
    return [f"video{suffix}"]


def chunk_command(
    source: Path,
    out_dir: Path,
    options: ProcessingOptions,
    info: MediaInfo,
    *,
    start_s: float,
    frame_s: float,
    frames: int,
    grid_offset_s: float | None,
    threads: int,
) -> Command:
    """Encode ``frames`` frames from the one at ``start_s``: video only, timestamps from 0."""
    args = [*_start(threads)]
    if start_s > 0:
        args += ["-ss", f"{max(start_s - frame_s / 2, 0.0):.6f}"]  # exact: half a frame early
    args += _input(source, info, threads)
    names = chunk_names(options, info)
    sizes = (
        hls_rungs(options, info)
        if options.format == "hls"
        else [fit(info.width, info.height, options.width, options.height)]
    )
    split = f"[0:v:0]setpts=PTS-STARTPTS,split={len(sizes)}" + "".join(
        f"[s{i}]" for i in range(len(sizes))
    )
    graph = [split] + [f"[s{i}]{_video_filter(size, None)}[v{i}]" for i, size in enumerate(sizes)]
    args += ["-filter_complex", ";".join(graph)]
    for i, (name, (_w, height)) in enumerate(zip(names, sizes, strict=True)):
        args += ["-map", f"[v{i}]", *_video_codec(options), "-threads", str(threads)]
        if grid_offset_s is not None:  # HLS: the single pass's keyframes, every segment
            maxrate = _HLS_MAXRATE.get(height, 6_000_000)
            args += ["-maxrate", str(maxrate), "-bufsize", str(maxrate * 2)]
            expr = f"expr:gte(t+{grid_offset_s:.6f},n_forced*{HLS_SEGMENT_S})"
            args += ["-force_key_frames", expr, "-sc_threshold", "0"]
        args += ["-an", "-sn", "-frames:v", str(frames), *caps(frames * frame_s)]
        args.append(str(out_dir / name))
    outputs = tuple(Output(name, "video/mp4") for name in names)
    return Command(tuple(args), outputs, frames * frame_s)


def audio_name(options: ProcessingOptions) -> str:
    return "audio.webm" if options.audio_codec == "opus" else "audio.m4a"


def audio_command(
    source: Path, out_dir: Path, options: ProcessingOptions, info: MediaInfo, threads: int
) -> Command:
    """The whole source's audio, encoded once as the single pass would."""
    name = audio_name(options)
    args = [*_start(threads), *_input(source, info, threads), "-map", "0:a:0", "-vn"]
    args += [*_audio(options, info), "-threads", str(threads), *caps(info.duration_s)]
    return Command((*args, str(out_dir / name)), (Output(name, "audio/mp4"),), info.duration_s)


def _concat(listing: Path) -> list[str]:
    return ["-f", "concat", "-safe", "0", "-protocol_whitelist", "file", "-i", str(listing)]


def stitch_command(
    listings: list[Path],
    audio: Path | None,
    out_dir: Path,
    options: ProcessingOptions,
    info: MediaInfo,
    main: Command,
) -> Command:
    """Join the chunks (one listing per rung) and the audio into ``main``'s outputs."""
    args = [*_start(1)]
    for listing in listings:
        args += _concat(listing)
    if audio is not None:
        args += ["-protocol_whitelist", "file", "-i", str(audio)]
    audio_input = len(listings)
    if options.format != "hls":
        args += ["-map", "0:v:0"] + (["-map", f"{audio_input}:a:0"] if audio else [])
        args += ["-c", "copy", *caps(main.media_seconds)]
        if options.format == "mp4":
            args += ["-movflags", "+faststart"]
        out = str(out_dir / main.outputs[0].name)
        return Command((*args, out), main.outputs, main.media_seconds)
    stream_map = []
    labels = [f"{h}p" for _w, h in hls_rungs(options, info)]
    for i, label in enumerate(labels):
        args += ["-map", f"{i}:v:0"]
        entry = f"v:{i}"
        if audio is not None:
            args += ["-map", f"{audio_input}:a:0"]
            entry += f",a:{i}"
        stream_map.append(f"{entry},name:{label}")
    args += ["-c", "copy", "-f", "hls", "-hls_time", str(HLS_SEGMENT_S)]
    args += ["-hls_playlist_type", "vod", "-hls_segment_type", "fmp4"]
    args += ["-hls_flags", "independent_segments", "-master_pl_name", "master.m3u8"]
    args += ["-var_stream_map", " ".join(stream_map), "-hls_fmp4_init_filename", "init.mp4"]
    args += caps(main.media_seconds)
    hls_dir = out_dir / "hls"
    args += ["-hls_segment_filename", str(hls_dir / "%v" / "seg_%05d.m4s")]
    args.append(str(hls_dir / "%v" / "index.m3u8"))
    return Command(tuple(args), main.outputs, main.media_seconds)
