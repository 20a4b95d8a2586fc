"""Every ffmpeg command the builder makes pins the probed demuxer and the protocol whitelist,
and bounds its threads; the allow-list and the media limits on their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.options import PRESETS, parse_options
from services.core.media.containers import (
    ALLOWED,
    FORMAT_WHITELIST,
    demuxer_of,
    ffmpeg_input,
    protocols_for,
    refusal,
)
from services.core.media.limits import MediaLimits, check
from services.core.media.probe import MediaInfo
from services.transcoder.encode import command_lines as commands

SOURCE = Path("/data/sources/j/source")


def info(demuxer: str, audio: bool = True) -> MediaInfo:
    return MediaInfo(
        "x", demuxer, 12.0, 1280, 720, "h264", "aac" if audio else None, 30.0, None, 0, True, audio
    )


def every_command(demuxer: str, threads: int) -> list[commands.Command]:
    made = []
    for audio in (True, False):
        source = info(demuxer, audio)
        for preset in PRESETS:
            options = parse_options(preset)
            if options.format == "m4a" and not audio:
                continue
            made.append(commands.main_command(SOURCE, Path("/o"), options, source, threads))
        trimmed = parse_options({"format": "hls", "trim_start": 1, "trim_end": 5})
        made.append(commands.main_command(SOURCE, Path("/o"), trimmed, source, threads))
        made.append(commands.thumbnail_command(SOURCE, Path("/o"), source, 1.5, threads))
        made.append(commands.preview_command(SOURCE, Path("/o"), source, threads))
    return made


@pytest.mark.parametrize("demuxer", sorted(ALLOWED))
def test_every_input_is_pinned_and_fenced(demuxer: str) -> None:
    built = every_command(demuxer, 3)
    assert len(built) >= 2 * len(PRESETS)
    for command in built:
        args = list(command.args)
        inputs = [i for i, arg in enumerate(args) if arg == "-i"]
        assert len(inputs) == 1, args
        at = inputs[0]
        assert args[at + 1] == str(SOURCE)
        assert args[at - 4 : at] == ["-protocol_whitelist", "file", "-f", demuxer], args
        assert args[at - 6 : at - 4] == ["-threads", "3"], args  # the decoder's
        after = args[at + 2 :]  # the encoder's, among the output options
        assert after[after.index("-threads") + 1] == "3", args
        assert args[args.index("-filter_threads") + 1] == "3"
        assert not any(arg.startswith(("concat:", "subfile:", "http")) for arg in args)


def test_demuxer_names_map_onto_the_allow_list() -> None:
    assert demuxer_of("mov,mp4,m4a,3gp,3g2,mj2") == "mov"
    assert demuxer_of("matroska,webm") == "matroska"
    for name in ("avi", "mpegts", "flv", "ogg", "mxf"):
        assert demuxer_of(name) == name
    for refused in ("hls", "dash", "concat", "image2", "png_pipe", "tty", "bin", "lavfi", ""):
        assert demuxer_of(refused) is None
    assert "MP4/MOV/3GP" in refusal("hls") and "(hls)" in refusal("hls")
    assert FORMAT_WHITELIST.split(",") == list(ALLOWED)


def test_protocols_are_only_what_the_location_needs() -> None:
    assert protocols_for("/data/sources/x/source") == "file"
    assert protocols_for("file:///data/x") == "file"
    assert protocols_for("https://s3.example.com/b/k?X-Amz-Signature=1") == "https,tls,tcp"
    assert protocols_for("http://127.0.0.1:9000/b/k") == "http,tcp"
    for bad in ("subfile:,,start,0,end,1,,:/x", "concat:/a|/b"):
        assert protocols_for(bad) == "file"  # no "://": a local path; -f pins the demuxer
    with pytest.raises(ValueError):
        protocols_for("ftp://host/x")
    with pytest.raises(ValueError):
        ffmpeg_input("hls", "/x")


def test_media_limits_name_the_variable() -> None:
    limits = MediaLimits()
    fine = {"width": 7680, "height": 4320, "fps": 240.0, "duration_s": 21600.0, "streams": 16}
    assert check(limits, **fine) is None  # type: ignore[arg-type]
    cases = {
        "MAX_VIDEO_PIXELS": {"width": 7681},
        "MAX_FRAME_RATE": {"fps": 240.5},
        "MAX_DURATION": {"duration_s": 21601.0},
        "MAX_STREAMS": {"streams": 17},
    }
    for variable, change in cases.items():
        over = check(limits, **{**fine, **change})  # type: ignore[arg-type]
        assert over is not None and over.variable == variable and variable in over.message
    unknown = {**fine, "fps": None, "duration_s": None}
    assert check(limits, **unknown) is None  # type: ignore[arg-type]
